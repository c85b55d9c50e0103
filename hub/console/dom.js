// Small DOM helpers: text only (never innerHTML with data), elements from <template>s.

import { applyStatic } from "./i18n.js";

/** The element with this id (the page's markup guarantees it exists). */
export const $ = (id) => document.getElementById(id);

/** Create an element with attributes (`text` sets textContent, `dataset` sets data-*). */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A translated copy of the <template id=...>'s first element. */
export function fromTemplate(id) {
  const node = $(id).content.firstElementChild.cloneNode(true);
  applyStatic(node);
  return node;
}

/** The first descendant with data-role="role". */
export const role = (root, name) => root.querySelector(`[data-role="${name}"]`);

/** Remove every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

/** Count frames decoded into a <video> as its data-frames attribute, for tests and health. */
export function countFrames(video) {
  video.dataset.frames = video.dataset.frames ?? "0";
  if (typeof video.requestVideoFrameCallback !== "function") return;
  const tick = () => {
    video.dataset.frames = String(Number(video.dataset.frames || 0) + 1);
    video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

/** Detach a <video>'s stream and reset its frame count. */
export function resetVideo(video) {
  video.srcObject = null;
  video.removeAttribute("src");
  video.dataset.frames = "0";
}
