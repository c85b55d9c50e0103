// The notice line of the hub's consoles (the GP's, the coordinator's, the secretary's desk): what an action
// did or why it was refused, in #notice, for NOTICE_MS or until closed, kept in the page's language.

import { $ } from "/ui/dom.js";

const NOTICE_MS = 10000;
let shown = null; // {kind, text: () => string}
let timer = null;

/** Show a notice of `kind` ("ok", "error"...; an error is an alert); `text` a string, or a function giving it in
 * the page's language now (called again on a language change). */
export function showNotice(kind, text) {
  shown = { kind, text: typeof text === "function" ? text : () => text };
  clearTimeout(timer);
  timer = setTimeout(hideNotice, NOTICE_MS);
  renderNotice();
}

/** Take the notice away (its close button, or its time is up). */
export function hideNotice() {
  shown = null;
  renderNotice();
}

/** Draw the notice, in the page's language. */
export function renderNotice() {
  const box = $("notice");
  box.hidden = !shown;
  box.dataset.kind = shown?.kind ?? "";
  box.setAttribute("role", shown?.kind === "error" ? "alert" : "status");
  $("notice-text").textContent = shown ? shown.text() : "";
}
