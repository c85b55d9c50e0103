// The coordinator's console (docs/design.md, "The coordinator's console"): free slots across sites, booking
// by phone, one booking by its code (read aloud, resent, moved, marked a no-show, cancelled), each cabin's
// day, GP sessions and closures, the activity figures (./activity.js), over the hub's /api/coordinator/... routes. The coordinator logs in on the
// GP console's page (the same login and second factor), which sends her here. Nothing is kept in the browser.

import { $, clear, el } from "/ui/dom.js";
import { init as initI18n, onLanguageChange, otherLanguage, t } from "/ui/i18n.js";
import { refusalText, send, staffLogin } from "/static/api.js";
import { hideNotice, showNotice } from "/static/notice.js";
import { bindActivity, renderActivity } from "./activity.js";
import { programme } from "./programme.js";

try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("desk: the text catalogues did not load", error);
}

const API = "/api/coordinator";
const REGULAR_DOCTOR = { yes: true, no: false };

const state = {
  me: null,
  sites: [], // {code, name, town, address, mobile, timezone, cabins: [{id, label}]}
  gps: [], // {username, name}
  slots: [],
  booking: null, // the booking shown
  moving: false, // the slots offer "move here" for the booking shown
  day: null, // {site, date, cabins}
  sessions: [],
  left: [], // bookings a withdrawn session left without a GP
  closure: null, // {count, bookings}
  programme: null, // the "Programme" section (programme.js), once the sites are known
};

// ---------- helpers ----------

const site = (code) => state.sites.find((s) => s.code === code);
const cabinLabel = (id) => state.sites.flatMap((s) => s.cabins).find((c) => c.id === id)?.label ?? id;
const gpName = (username) => state.gps.find((g) => g.username === username)?.name ?? username ?? "";

function when(iso, siteCode, options = { dateStyle: "full", timeStyle: "short" }) {
  const zone = site(siteCode)?.timezone;
  return new Intl.DateTimeFormat(document.documentElement.lang, { ...options, timeZone: zone }).format(new Date(iso));
}

const hours = (start, end, siteCode) => `${when(start, siteCode, { timeStyle: "short" })}–${when(end, siteCode, { timeStyle: "short" })}`;

/** The refusal's text in the current language, else the hub's own message. */
function showError(id, result) {
  $(id).hidden = !result;
  $(id).textContent = result ? refusalText(result) : "";
}

// ---------- choices: sites, GPs, cabins ----------

function fillSelects() {
  for (const select of document.querySelectorAll("select[data-role=sites]")) {
    const chosen = select.value;
    const any = select.dataset.any ? [el("option", { value: "", text: t(select.dataset.any) })] : [];
    select.replaceChildren(...any, ...state.sites.map((s) => el("option", { value: s.code, text: `${s.name} (${s.code})` })));
    select.value = chosen || (any.length ? "" : state.sites[0]?.code ?? "");
  }
  for (const select of document.querySelectorAll("select[data-role=gps]")) {
    const chosen = select.value;
    const any = select.dataset.any ? [el("option", { value: "", text: t(select.dataset.any) })] : [];
    select.replaceChildren(...any, ...state.gps.map((g) => el("option", { value: g.username, text: g.name })));
    select.value = chosen || (any.length ? "" : state.gps[0]?.username ?? "");
  }
  renderSessionCabins();
  renderClosureCabins();
}

function renderSessionCabins() {
  const cabins = site($("session-site").value)?.cabins ?? [];
  const checked = new Set([...$("session-cabins").querySelectorAll("input:checked")].map((i) => i.value));
  $("session-cabins").replaceChildren(...cabins.map((c) => el("label", { class: "check" },
    el("input", { type: "checkbox", value: c.id, checked: checked.has(c.id), "data-testid": "session-cabin" }), ` ${c.label}`)));
}

function renderClosureCabins() {
  const select = $("closure-cabin");
  const chosen = select.value;
  const cabins = site($("closure-site").value)?.cabins ?? [];
  select.replaceChildren(el("option", { value: "", text: t("closure.whole_site") }),
    ...cabins.map((c) => el("option", { value: c.id, text: c.label })));
  select.value = cabins.some((c) => c.id === chosen) ? chosen : "";
}

// ---------- free slots ----------

async function search() {
  const params = new URLSearchParams({ from: $("search-from").value, days: $("search-days").value || "1" });
  if ($("search-site").value) params.set("site", $("search-site").value);
  if ($("search-gp").value) params.set("gp", $("search-gp").value);
  const result = await send("GET", `${API}/slots?${params}`);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  state.slots = result.data.slots ?? [];
  renderSlots();
}

function renderSlots() {
  $("search-empty").hidden = state.slots.length > 0;
  $("slot-list").replaceChildren(...state.slots.map((slot) => {
    const action = state.moving
      ? el("button", { type: "button", class: "primary", "data-testid": "slot-move", text: t("search.move_here"), onclick: () => move(slot) })
      : el("button", { type: "button", class: "primary", "data-testid": "slot-book", text: t("search.book"), onclick: () => chooseSlot(slot) });
    return el("li", { class: "slot-row", "data-testid": "slot-row" },
      el("span", { class: "slot-when", text: when(slot.start, slot.site) }),
      el("span", { text: `${site(slot.site)?.name ?? slot.site} · ${cabinLabel(slot.station)}` }),
      el("span", { class: "muted", text: slot.gps.map(gpName).join(", ") }),
      action);
  }));
}

// ---------- booking by phone ----------

let chosenSlot = null;

function chooseSlot(slot) {
  chosenSlot = slot;
  $("book-card").hidden = false;
  showError("book-error", null);
  renderChosenSlot();
  $("book-name").focus();
}

function renderChosenSlot() {
  $("book-slot").textContent = chosenSlot
    ? t("book.slot", { when: when(chosenSlot.start, chosenSlot.site), site: site(chosenSlot.site)?.name ?? chosenSlot.site, cabin: cabinLabel(chosenSlot.station) })
    : "";
}

async function book() {
  if (!chosenSlot) return;
  const body = { site: chosenSlot.site, start: chosenSlot.start, station: chosenSlot.station };
  for (const input of $("book-form").querySelectorAll("[data-field]")) {
    const value = input.value.trim();
    if (value) body[input.dataset.field] = value;
    input.removeAttribute("aria-invalid");
  }
  if (body.regular_doctor) body.regular_doctor = REGULAR_DOCTOR[body.regular_doctor] ?? null; // "unknown": no answer
  const result = await send("POST", `${API}/bookings`, body);
  if (!result.ok) {
    showError("book-error", result);
    for (const field of result.data.fields ?? []) {
      $("book-form").querySelector(`[data-field="${CSS.escape(field)}"]`)?.setAttribute("aria-invalid", "true");
    }
    if (result.data.error === "slot_taken") await search();
    return;
  }
  $("book-form").reset();
  $("book-card").hidden = true;
  chosenSlot = null;
  showBooking(result.data.booking);
  await search();
}

// ---------- one booking ----------

function showBooking(booking) {
  state.booking = booking;
  state.moving = false;
  showError("find-error", null);
  renderBooking();
  renderSlots();
  $("booking").scrollIntoView({ block: "nearest" });
}

function renderBooking() {
  const b = state.booking;
  $("booking").hidden = !b;
  if (!b) return;
  $("booking").dataset.status = b.status;
  $("booking-code").textContent = b.code_grouped;
  $("booking-status").textContent = t(`status.${b.status}`);
  $("booking-when").textContent = when(b.start, b.site);
  const place = site(b.site);
  $("booking-where").textContent = `${place?.name ?? b.site}, ${place?.address ?? ""} · ${cabinLabel(b.station)}`;
  const born = new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "long", timeZone: "UTC" })
    .format(new Date(`${b.birth_date}T00:00:00Z`));
  $("booking-patient").textContent = [b.patient_name, t("booking.born", { date: born }),
    b.representative ? t("booking.with", { name: b.representative }) : ""].filter(Boolean).join(" · ");
  $("booking-contact").textContent = [b.phone, b.email].filter(Boolean).join(" · ");
  $("booking-gp").textContent = b.gp ? gpName(b.gp) : t("booking.any_gp");
  $("booking-reason").textContent = b.reason ?? "";
  const live = b.status === "booked";
  $("booking-actions").hidden = !live;
  $("cancel-form").hidden = !live;
  $("move-hint").hidden = !state.moving;
}

async function find() {
  const code = $("find-code").value.trim();
  if (!code) return;
  const result = await send("GET", `${API}/bookings/${encodeURIComponent(code)}`);
  if (!result.ok) {
    state.booking = null;
    renderBooking();
    showError("find-error", result);
    return;
  }
  showBooking(result.data.booking);
}

async function act(path, body, doneKey) {
  const b = state.booking;
  if (!b) return false;
  const result = await send("POST", `${API}/bookings/${b.code}/${path}`, body);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return false;
  }
  showBooking(result.data.booking);
  showNotice("info", t(doneKey, { code: result.data.booking.code_grouped }));
  await refreshDay();
  return true;
}

async function move(slot) {
  if (await act("move", { start: slot.start, station: slot.station }, "booking.moved")) await search();
}

// ---------- each cabin's day ----------

async function loadDay() {
  const params = new URLSearchParams({ site: $("day-site").value, date: $("day-date").value });
  const result = await send("GET", `${API}/day?${params}`);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  state.day = result.data;
  renderDay();
}

async function refreshDay() {
  if (state.day) await loadDay();
}

function renderDay() {
  const day = state.day;
  if (!day) return;
  $("day-cabins").replaceChildren(...day.cabins.map((cabin) => el("div", { class: "day-cabin", "data-testid": "day-cabin" },
    el("h3", { text: cabin.label }),
    cabin.bookings.length === 0
      ? el("p", { class: "muted", text: t("day.empty") })
      : el("table", { class: "day-table" },
        el("thead", {}, el("tr", {}, ...["day.time", "day.name", "day.code", "day.status", "field.gp"].map((k) => el("th", { scope: "col", text: t(k) })))),
        el("tbody", {}, ...cabin.bookings.map((b) => el("tr", { "data-testid": "day-row", dataset: { status: b.status } },
          el("td", { text: hours(b.start, b.end, b.site) }),
          el("td", { text: b.patient_name }),
          el("td", {}, el("button", { type: "button", class: "link code", text: b.code_grouped, onclick: () => showBooking(b) })),
          el("td", { text: t(`status.${b.status}`) }),
          el("td", { text: b.gp ? gpName(b.gp) : t("booking.any_gp") }))))))));
}

// ---------- GP sessions ----------

async function loadSessions() {
  const date = $("session-date").value;
  if (!date) return;
  const params = new URLSearchParams({ from: date, days: "7", site: $("session-site").value });
  const result = await send("GET", `${API}/sessions?${params}`);
  if (result.ok) {
    state.sessions = result.data.sessions ?? [];
    renderSessions();
  }
}

function renderSessions() {
  $("session-list").replaceChildren(...state.sessions.map((s) => el("li", { "data-testid": "session-row" },
    el("span", { text: `${when(s.start, s.site, { dateStyle: "medium" })} ${hours(s.start, s.end, s.site)} · ${gpName(s.gp)} · ${cabinLabel(s.station)}` }),
    el("button", { type: "button", class: "ghost small", "data-testid": "session-withdraw", text: t("sessions.withdraw"), onclick: () => withdraw(s) }))));
  $("session-left").replaceChildren(...state.left.map((b) => el("li", { "data-testid": "left-row" },
    t("sessions.left", { when: when(b.start, b.site), name: b.patient_name, phone: b.phone ?? b.email ?? "" }))));
}

async function publish() {
  const body = {
    gp: $("session-gp").value, date: $("session-date").value, from: $("session-from").value, to: $("session-to").value,
    stations: [...$("session-cabins").querySelectorAll("input:checked")].map((i) => i.value),
  };
  const result = await send("POST", `${API}/sessions`, body);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  showNotice("info", t("sessions.published"));
  await loadSessions();
}

async function withdraw(session) {
  const result = await send("POST", `${API}/sessions/${session.id}/withdraw`, {});
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  state.left = result.data.bookings ?? [];
  await loadSessions();
}

// ---------- closures ----------

async function close() {
  const body = {
    site: $("closure-site").value, station: $("closure-cabin").value || null, from: $("closure-from").value,
    to: $("closure-to").value || $("closure-from").value, reason: $("closure-reason").value,
  };
  if ($("closure-from-time").value) body.from_time = $("closure-from-time").value;
  if ($("closure-to-time").value) body.to_time = $("closure-to-time").value;
  const result = await send("POST", `${API}/closures`, body);
  if (!result.ok) {
    showNotice("error", refusalText(result));
    return;
  }
  state.closure = { bookings: result.data.bookings ?? [] };
  $("closure-form").reset();
  renderClosureCabins();
  renderClosure();
  await refreshDay();
}

function renderClosure() {
  const c = state.closure;
  $("closure-result").hidden = !c;
  if (!c) return;
  $("closure-result").textContent = t("closure.done", { n: c.bookings.length });
  $("closure-hit").replaceChildren(...c.bookings.map((b) => el("li", { "data-testid": "closure-row" },
    el("span", { text: `${when(b.start, b.site)} · ${cabinLabel(b.station)} · ${b.patient_name} · ${b.code_grouped}` }),
    el("strong", { class: "phone", text: b.phone ?? b.email ?? "" }))));
}

// ---------- start ----------

function renderAll() {
  $("who").textContent = state.me?.name ?? "";
  $("lang-toggle").lang = otherLanguage();
  fillSelects();
  renderSlots();
  renderChosenSlot();
  renderBooking();
  renderDay();
  renderSessions();
  renderClosure();
  renderActivity();
  state.programme?.render();
}

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    handler().catch((error) => console.warn(`desk: ${id} failed`, error));
  });
}

function bind() {
  onSubmit("search-form", search);
  onSubmit("book-form", book);
  onSubmit("find-form", find);
  onSubmit("day-form", loadDay);
  onSubmit("session-form", publish);
  onSubmit("closure-form", close);
  onSubmit("cancel-form", async () => {
    const reason = $("cancel-reason").value.trim();
    if (!reason) {
      $("cancel-reason").setAttribute("aria-invalid", "true");
      showNotice("error", t("booking.reason_needed"));
      return;
    }
    $("cancel-reason").removeAttribute("aria-invalid");
    if (await act("cancel", { reason }, "booking.cancelled")) $("cancel-form").reset();
  });
  const report = (what) => (error) => console.warn(`desk: ${what} failed`, error);
  $("resend-button").addEventListener("click", () => act("resend", {}, "booking.resent").catch(report("resend")));
  $("no-show-button").addEventListener("click", () => act("no-show", {}, "booking.marked").catch(report("no-show")));
  $("move-button").addEventListener("click", () => {
    state.moving = true;
    renderBooking();
    renderSlots();
    $("search-from").focus();
  });
  $("book-cancel").addEventListener("click", () => {
    chosenSlot = null;
    $("book-card").hidden = true;
  });
  $("session-site").addEventListener("change", () => {
    renderSessionCabins();
    loadSessions().catch(report("sessions"));
  });
  $("session-date").addEventListener("change", () => loadSessions().catch(report("sessions")));
  $("closure-site").addEventListener("change", renderClosureCabins);
  $("notice-close").addEventListener("click", hideNotice);
  bindActivity();
  onLanguageChange(renderAll);
}

async function main() {
  bind();
  const who = await staffLogin("coordinator", ["coordinator"], () => showNotice("error", t("error.network")));
  if (who === null) return;
  state.me = who;
  const result = await send("GET", `${API}/sites`);
  state.sites = result.data.sites ?? [];
  state.gps = result.data.gps ?? [];
  const today = new Date().toLocaleDateString("en-CA"); // YYYY-MM-DD, the browser's day
  for (const id of ["search-from", "day-date", "session-date", "closure-from"]) $(id).value = today;
  state.programme = programme({ when, units: state.sites.filter((s) => s.mobile) });
  $("main").hidden = false;
  document.body.dataset.view = "desk";
  renderAll();
  document.body.dataset.ready = "true";
}

main().catch((error) => console.warn("desk: start-up failed", error));
