// The accounts page (docs/design.md, "Accounts in the store"): a technician lists the GPs, staff and stations
// in the hub's store, creates them, disables and enables them, rotates a station's token (shown once) and
// sets a password, over /api/accounts/... She logs in on the console's page.

import { $, el } from "/ui/dom.js";
import { init as initI18n, onLanguageChange, otherLanguage, t } from "/ui/i18n.js";
import { refusalText, send, staffLogin } from "/static/api.js";
import { hideNotice, showNotice } from "/static/notice.js";

try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("accounts: the text catalogues did not load", error);
}

const API = "/api/accounts";
const state = { me: null, accounts: [], sites: [] };

/** A change: the list read again, or the refusal in the notice; the answer when done. */
async function act(path, body, done, args = {}) {
  const result = await send("POST", `${API}/${path}`, body);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return null;
  }
  showNotice("ok", t(done, args));
  await load();
  return result.data;
}

function showToken(id, token) {
  $("token-for").textContent = t("token.for", { id });
  $("token").textContent = token;
  $("token-card").hidden = false;
}

/** The form's [data-field] values, empty ones left out. */
function fields(form) {
  const body = {};
  for (const input of form.querySelectorAll("[data-field]")) {
    const value = input.dataset.field === "password" ? input.value : input.value.trim();
    if (value) body[input.dataset.field] = value;
  }
  return body;
}

async function load() {
  const result = await send("GET", API);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  state.accounts = result.data.accounts;
  state.sites = result.data.sites;
  renderAll();
}

function button(label, testid, handler, kind = "") {
  const b = el("button", { type: "button", class: kind, "data-testid": testid }, t(label));
  b.addEventListener("click", () => handler().catch(report(testid)));
  return b;
}

function renderRows() {
  const rows = state.accounts.map((a) => {
    const path = `${a.kind}/${encodeURIComponent(a.name)}`;
    const actions = [a.enabled
      ? button("list.disable", "disable", () => act(`${path}/disable`, {}, "done.disabled", { name: a.name }), "danger")
      : button("list.enable", "enable", () => act(`${path}/enable`, {}, "done.enabled", { name: a.name }))];
    if (a.kind === "station") {
      actions.push(button("list.rotate", "rotate", async () => {
        const data = await act(`${path}/rotate`, {}, "done.rotated", { name: a.name });
        if (data) showToken(a.name, data.token);
      }));
    }
    return el("tr", { "data-testid": "account-row", "data-name": a.name, "data-kind": a.kind, "data-enabled": String(a.enabled) },
      el("td", {}, t(`kind.${a.kind}`)), el("td", {}, a.name), el("td", {}, a.label),
      el("td", {}, t(`role.${a.role}`)), el("td", { "data-testid": "state" }, t(a.enabled ? "list.enabled" : "list.disabled")),
      el("td", { class: "actions" }, ...actions));
  });
  $("account-rows").replaceChildren(...rows);
}

function renderSites() {
  for (const [id, mobileOnly] of [["station-site-code", false], ["staff-site-code", true]]) {
    const select = $(id);
    const chosen = select.value;
    const options = state.sites.filter((s) => !mobileOnly || s.mobile).map((s) => el("option", { value: s.code }, `${s.code} ${s.name}`));
    select.replaceChildren(el("option", { value: "" }, t("field.no_site")), ...options);
    select.value = chosen;
  }
}

function renderAll() {
  $("who").textContent = state.me?.name ?? "";
  $("lang-toggle").lang = otherLanguage();
  renderRows();
  renderSites();
}

const report = (what) => (error) => console.warn(`accounts: ${what} failed`, error);

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    handler().catch(report(id));
  });
}

function bind() {
  onSubmit("gp-form", async () => {
    const stations = $("gp-stations").value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { ...fields($("gp-form")), stations };
    if (await act("gp", body, "done.created", { name: body.username ?? "" })) $("gp-form").reset();
  });
  onSubmit("station-form", async () => {
    const body = fields($("station-form"));
    const data = await act("station", body, "done.created", { name: body.id ?? "" });
    if (data) {
      showToken(data.id, data.token);
      $("station-form").reset();
    }
  });
  onSubmit("staff-form", async () => {
    const body = fields($("staff-form"));
    if (await act("staff", body, "done.created", { name: body.username ?? "" })) $("staff-form").reset();
  });
  onSubmit("password-form", async () => {
    const username = $("password-username").value.trim();
    const body = { password: $("password-new").value };
    const kind = state.accounts.find((a) => a.name === username && a.kind !== "station")?.kind ?? "gp";
    if (await act(`${kind}/${encodeURIComponent(username)}/password`, body, "done.password", { name: username })) {
      $("password-form").reset();
    }
  });
  $("notice-close").addEventListener("click", hideNotice);
  onLanguageChange(renderAll);
}

async function main() {
  bind();
  const who = await staffLogin("accounts", ["technician"], () => showNotice("error", t("error.network")));
  if (who === null) return;
  state.me = who;
  await load();
  $("main").hidden = false;
  document.body.dataset.view = "accounts";
  document.body.dataset.ready = "true";
}

main().catch(report("start"));
