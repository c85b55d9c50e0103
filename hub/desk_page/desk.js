// The secretary's desk on the vehicle's hub (docs/design.md, "The secretary's desk"): the stop opened and
// closed, the day's bookings, patients welcomed and walk-ins, the waiting list by ticket number, "next
// patient" to the cabin and its answer, no-shows, phone bookings for the coming stops and the conflicts left
// by synchronisation, over /api/desk/... The secretary logs in on the console's page, which sends her here.

import { $, el } from "/ui/dom.js";
import { init as initI18n, onLanguageChange, otherLanguage, t, tCode } from "/ui/i18n.js";
import { refusalText, send, staffLogin } from "/static/api.js";
import { hideNotice, showNotice } from "/static/notice.js";

try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("desk: the text catalogues did not load", error);
}

const API = "/api/desk";
const REFRESH_MS = 5000; // the cabin's state and answers come to the hub, not to this page: read them again

const state = { me: null, day: null, stops: [], slots: [], chosen: null, moving: null, conflicts: null };

// ---------- helpers ----------

const zone = () => state.day?.timezone; // the mobile unit's time zone
const clock = (iso) => new Intl.DateTimeFormat(document.documentElement.lang, { timeStyle: "short", timeZone: zone() }).format(new Date(iso));
const longDay = (iso) => new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "full", timeZone: "UTC" }).format(new Date(`${iso}T12:00:00Z`));
const when = (iso) => new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "full", timeStyle: "short", timeZone: zone() }).format(new Date(iso));

/** A change: its answer's day is shown, or the refusal in the notice; true when done. */
async function act(path, body, done) {
  const result = await send("POST", `${API}/${path}`, body);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return null;
  }
  if (result.data.day) state.day = result.data.day;
  if (done) showNotice("ok", t(done, result.data.visit ?? {}));
  renderDay();
  return result.data;
}

/** The form's [data-field] values, empty ones left out; "true"/"false" as booleans. */
function fields(form) {
  const body = {};
  for (const input of form.querySelectorAll("[data-field]")) {
    const value = input.value.trim();
    if (value) body[input.dataset.field] = value === "true" ? true : value === "false" ? false : value;
  }
  return body;
}

// ---------- the day ----------

async function loadDay() {
  const result = await send("GET", `${API}/day`);
  if (result.ok) {
    state.day = result.data.day;
    renderDay();
  }
}

function renderStop() {
  const stop = state.day?.stop;
  $("stop-place").textContent = stop ? `${longDay(state.day.date)} — ${stop.place} (${stop.hours.join(", ")})` : t("stop.none");
  $("stop-state").dataset.open = String(Boolean(stop?.open));
  $("stop-state").textContent = stop ? t(stop.open ? "stop.open" : "stop.closed") : "";
  $("stop-toggle").hidden = !stop;
  $("stop-toggle").textContent = t(stop?.open ? "stop.close" : "stop.open_it");
  $("stop-toggle").className = stop?.open ? "danger" : "primary";
}

function renderCabin() {
  const cabin = state.day?.cabin;
  const visit = state.day?.visits.find((v) => v.id === cabin?.visit);
  const status = !cabin?.online ? t("cabin.offline") : tCode("cabin.state", cabin.state ?? "unknown", cabin.state ?? "");
  $("cabin-state").textContent = visit ? `${status} — ${t("queue.ticket", visit)}` : status;
  $("cabin-state").dataset.online = String(Boolean(cabin?.online));
  const answer = state.day?.answer;
  $("cabin-answer").hidden = !answer;
  $("cabin-answer").dataset.accepted = String(Boolean(answer?.accepted));
  $("cabin-answer").textContent = !answer ? "" : answer.accepted ? t("cabin.accepted", answer)
    : t("cabin.refused", { ticket: answer.ticket, why: tCode("refusal", answer.code ?? "", answer.message ?? answer.code ?? "") });
}

function queueRow(visit, index, queue) {
  const move = (by) => () => reorder(queue, index, by).catch(report("reorder"));
  const reason = el("input", { value: visit.reason, maxlength: "500", "data-testid": "visit-reason", "aria-label": t("field.reason") });
  return el("li", { class: "queue-row", "data-testid": "queue-row", dataset: { ticket: String(visit.ticket) } },
    el("span", { class: "ticket", "data-testid": "queue-ticket", text: String(visit.ticket) }),
    el("span", { class: "queue-name", text: visit.booking?.patient_name ?? "" }),
    el("form", { class: "reason-form", onsubmit: (event) => { event.preventDefault(); act(`visits/${visit.id}/reason`, { reason: reason.value }, "queue.reason_saved").catch(report("reason")); } },
      reason, el("button", { type: "submit", class: "ghost", text: t("queue.save") })),
    el("span", { class: "queue-buttons" },
      el("button", { type: "button", class: "ghost", "data-testid": "queue-up", disabled: index === 0, "aria-label": t("queue.up"), text: "↑", onclick: move(-1) }),
      el("button", { type: "button", class: "ghost", "data-testid": "queue-down", disabled: index === queue.length - 1, "aria-label": t("queue.down"), text: "↓", onclick: move(1) }),
      el("button", { type: "button", class: "ghost", "data-testid": "queue-left", text: t("queue.left"), onclick: () => act(`visits/${visit.id}/left`, {}).catch(report("left")) })));
}

function renderQueue() {
  const visits = state.day?.visits ?? [];
  const queue = visits.filter((v) => v.status === "waiting").sort((a, b) => a.position - b.position || a.ticket - b.ticket);
  $("queue-empty").hidden = queue.length > 0;
  $("queue").replaceChildren(...queue.map(queueRow));
  $("visits-over").replaceChildren(...visits.filter((v) => v.status !== "waiting").map((v) => el("li", { "data-testid": "visit-over", dataset: { status: v.status } },
    el("span", { class: "ticket small", text: String(v.ticket) }), el("span", { text: v.booking?.patient_name ?? "" }),
    el("span", { class: "muted", text: tCode("visit", v.status, v.status) }))));
  $("next-button").disabled = !queue.length || !state.day?.stop?.open;
}

async function reorder(queue, index, by) {
  const order = queue.map((v) => v.id);
  [order[index], order[index + by]] = [order[index + by], order[index]];
  await act("queue", { order });
}

function renderBookings() {
  const bookings = state.day?.bookings ?? [];
  const welcomed = new Map((state.day?.visits ?? []).map((v) => [v.booking_id, v]));
  $("day-empty").hidden = bookings.length > 0;
  $("day-list").replaceChildren(...bookings.map((b) => {
    const visit = welcomed.get(b.id);
    const live = b.status === "booked" && !visit;
    return el("li", { "data-testid": "day-row", dataset: { status: b.status } },
      el("span", { class: "slot-when", text: clock(b.start) }),
      el("span", { text: b.patient_name }),
      el("span", { class: "muted", text: `${b.code_grouped} · ${tCode("status", b.status, b.status)} · ${tCode("channel", b.channel, b.channel)}` }),
      visit ? el("span", { class: "ticket small", text: String(visit.ticket) }) : null,
      live ? el("button", { type: "button", class: "primary", "data-testid": "day-welcome", text: t("day.welcome"), onclick: () => { $("welcome-code").value = b.code_grouped; $("welcome-birth").focus(); } }) : null,
      live ? el("button", { type: "button", class: "ghost", "data-testid": "day-no-show", text: t("day.no_show"), onclick: () => act(`bookings/${b.code}/no-show`, {}, "day.no_show_done").catch(report("no-show")) }) : null);
  }));
}

function renderDay() {
  renderStop();
  renderCabin();
  renderQueue();
  renderBookings();
}

// ---------- phone bookings and conflicts ----------

async function loadStops() {
  const result = await send("GET", `${API}/stops`);
  state.stops = result.data.stops ?? [];
  renderStops();
}

function renderStops() {
  const chosen = $("phone-stop").value;
  $("phone-stop").replaceChildren(...state.stops.map((s) => el("option", { value: s.date, text: `${longDay(s.date)} — ${s.place}` })));
  if (chosen) $("phone-stop").value = chosen;
}

async function searchSlots() {
  const result = await send("GET", `${API}/slots?from=${encodeURIComponent($("phone-stop").value)}&days=1`);
  if (!result.ok) return showNotice("error", refusalText(result));
  state.slots = result.data.slots ?? [];
  renderSlots();
}

function renderSlots() {
  $("phone-moving").hidden = !state.moving;
  $("phone-moving").textContent = state.moving ? t("phone.moving", { code: state.moving }) : "";
  $("phone-slots").replaceChildren(...state.slots.map((slot) => el("li", { class: "slot-row", "data-testid": "phone-slot" },
    el("span", { class: "slot-when", text: when(slot.start) }),
    state.moving
      ? el("button", { type: "button", class: "primary", "data-testid": "phone-move-here", text: t("phone.move_here"), onclick: () => move(state.moving, slot.start).catch(report("move")) })
      : el("button", { type: "button", class: "primary", "data-testid": "phone-book", text: t("phone.book"), onclick: () => choose(slot) }))));
  $("phone-form").hidden = !state.chosen;
  $("phone-slot").textContent = state.chosen ? when(state.chosen.start) : "";
}

function choose(slot) {
  state.chosen = slot;
  renderSlots();
  $("phone-name").focus();
}

async function bookByPhone() {
  const slot = state.chosen;
  const result = await send("POST", `${API}/bookings`, { ...fields($("phone-form")), site: slot.site, start: slot.start });
  if (!result.ok) return showNotice("error", refusalText(result));
  state.chosen = null;
  $("phone-form").reset();
  $("phone-made").hidden = false;
  $("phone-made").textContent = result.data.booking.code_grouped;
  showNotice("ok", t("phone.booked", { code: result.data.booking.code_grouped }));
  await Promise.all([searchSlots(), loadDay()]);
}

async function move(code, start) {
  const result = await send("POST", `${API}/bookings/${encodeURIComponent(code)}/move`, { start });
  if (!result.ok) return showNotice("error", refusalText(result));
  state.moving = null;
  showNotice("ok", t("phone.moved", { code: result.data.booking.code_grouped, when: when(result.data.booking.start) }));
  await Promise.all([loadDay(), loadConflicts(), state.slots.length ? searchSlots() : null]);
}

async function cancelByPhone() {
  const code = $("change-code").value.trim();
  const result = await send("POST", `${API}/bookings/${encodeURIComponent(code)}/cancel`, { reason: $("change-reason").value.trim() });
  if (!result.ok) return showNotice("error", refusalText(result));
  $("change-form").reset();
  showNotice("ok", t("phone.cancelled", { code: result.data.booking.code_grouped }));
  await loadDay();
}

async function loadConflicts() {
  const result = await send("GET", "/api/sync/conflicts");
  state.conflicts = result.ok ? result.data.conflicts ?? [] : null; // absent (404): no panel
  $("conflicts-card").hidden = !state.conflicts?.length;
  $("conflict-list").replaceChildren(...(state.conflicts ?? []).map((c) => el("li", { "data-testid": "conflict-row" },
    el("span", { class: "slot-when", text: when(c.slot_start) }), el("span", { text: `${c.patient_name} · ${c.code}` }),
    el("span", { class: "phone", text: c.phone ?? c.email ?? "" }), el("span", { class: "muted", text: c.what_to_say ?? "" }),
    c.suggested_start ? el("button", { type: "button", class: "primary", "data-testid": "conflict-move", text: t("conflicts.move", { when: when(c.suggested_start) }), onclick: () => move(c.code, c.suggested_start).catch(report("move")) }) : null)));
}

// ---------- start ----------

const report = (what) => (error) => console.warn(`desk: ${what} failed`, error);

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    handler().catch(report(id));
  });
}

function renderAll() {
  $("who").textContent = state.me?.name ?? "";
  $("lang-toggle").lang = otherLanguage();
  renderDay();
  renderStops();
  renderSlots();
}

function bind() {
  $("stop-toggle").addEventListener("click", () => act("stop", { open: !state.day?.stop?.open }).catch(report("stop")));
  $("next-button").addEventListener("click", () => act("next", {}, "cabin.called").catch(report("next")));
  onSubmit("welcome-form", async () => {
    const body = { code: $("welcome-code").value.trim(), birth_date: $("welcome-birth").value, reason: $("welcome-reason").value.trim() };
    if (await act("welcome", body, "welcome.done")) $("welcome-form").reset();
  });
  onSubmit("walkin-form", async () => {
    const body = { regular_doctor: null, ...fields($("walkin-form")) };
    if (await act("walk-in", body, "welcome.done")) $("walkin-form").reset();
  });
  onSubmit("phone-search", searchSlots);
  onSubmit("phone-form", bookByPhone);
  onSubmit("change-form", cancelByPhone);
  $("change-move").addEventListener("click", () => {
    state.moving = $("change-code").value.trim() || null;
    renderSlots();
  });
  $("notice-close").addEventListener("click", hideNotice);
  onLanguageChange(renderAll);
}

async function main() {
  bind();
  const who = await staffLogin("desk", ["secretary"], () => showNotice("error", t("error.network")));
  if (who === null) return;
  state.me = who;
  await Promise.all([loadDay(), loadStops(), loadConflicts()]);
  $("main").hidden = false;
  document.body.dataset.view = "desk";
  renderAll();
  setInterval(() => loadDay().catch(report("refresh")), REFRESH_MS);
  document.body.dataset.ready = "true";
}

main().catch(report("start-up"));
