// The public booking page (docs/design.md, "The public booking page"): the age rule, then a site or a
// mobile unit's stop, a day and a free time, the patient, the terms, and the code. Nothing is kept in
// the browser (no storage, no cookie); the patient's data lives in the form until the page is left.

import { $, clear, el } from "/ui/dom.js";
import { has, init as initI18n, language, onLanguageChange, otherLanguage, switchLanguage, t, tCode } from "/ui/i18n.js";
import * as api from "./api.js";

const STEPS = ["intro", "site", "slot", "details", "done", "cancel"];
const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK = 7;
const REGULAR_DOCTOR = { yes: true, no: false }; // "I don't know", or no answer: null

const state = {
  sites: [], // /api/public/sites
  site: null, // the chosen site
  stop: null, // a mobile unit's chosen stop: its day only
  week: null, // the last /api/public/slots answer
  day: null, // the day shown, "YYYY-MM-DD"
  slot: null, // the chosen free time
  booked: null, // the confirmation, until "book another"
  errors: new Map(), // element id -> the refusal it shows, translated again on a language change
  cancelled: null,
};

// ---------- dates, in the site's own calendar (the hub gives local dates and times) ----------

const atNoon = (iso) => new Date(`${iso}T12:00:00Z`);

function formatDay(iso, style = "long") {
  const options = style === "long"
    ? { weekday: "long", day: "numeric", month: "long", year: "numeric" }
    : { weekday: "short", day: "numeric", month: "short" };
  return new Intl.DateTimeFormat(language(), { ...options, timeZone: "UTC" }).format(atNoon(iso));
}

function weekdayName(index) {
  return new Intl.DateTimeFormat(language(), { weekday: "long", timeZone: "UTC" }).format(new Date(Date.UTC(2024, 0, 1 + index)));
}

function addDays(iso, days) {
  const date = atNoon(iso);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** Age in completed years on `on`, both "YYYY-MM-DD" (the hub applies the same rule). */
function ageOn(birth, on) {
  const [by, bm, bd] = birth.split("-").map(Number);
  const [y, m, d] = on.split("-").map(Number);
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}

const fold = (text) => String(text).normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase().trim();

// ---------- steps, messages ----------

function show(step) {
  for (const name of STEPS) $(`step-${name}`).hidden = name !== step;
  document.body.dataset.step = step;
  $(`${step}-title`).focus();
  window.scrollTo(0, 0);
}

function errorText(result) {
  if (result.error === "rate_limited") {
    return t("error.rate_limited", { minutes: Math.max(1, Math.ceil(Number(result.data.retry_after_s || 60) / 60)) });
  }
  if (result.error === "invalid_booking" && Array.isArray(result.data.fields)) {
    const fields = result.data.fields.map((f) => (has(`field.${f}`) ? t(`field.${f}`) : f));
    return t("error.invalid_booking", { fields: fields.join(", ") });
  }
  if (result.error === "missing") return t("error.missing", { fields: result.fields.map((f) => t(`field.${f}`)).join(", ") });
  return tCode("error", result.error, result.message || t("error.server"));
}

function showError(id, result) {
  const node = $(id);
  if (result === null) state.errors.delete(id);
  else state.errors.set(id, result);
  node.textContent = result === null ? "" : errorText(result);
  node.hidden = result === null;
}

// ---------- 1. sites ----------

function hoursText(ranges) {
  return ranges.map((range) => range.replace("-", "–")).join(", ");
}

function siteHours(site) {
  const list = el("ul", { class: "hours" });
  WEEKDAYS.forEach((day, index) => {
    if (site.hours[day]) list.append(el("li", {}, el("span", { class: "day", text: weekdayName(index) }), ` ${hoursText(site.hours[day])}`));
  });
  return list;
}

function siteStops(site) {
  if (site.stops.length === 0) return el("p", { class: "muted", text: t("site.no_stops") });
  return el("ul", { class: "stops" }, site.stops.map((stop) => el("li", { class: "stop" },
    el("p", { class: "strong", text: `${formatDay(stop.date)} · ${hoursText(stop.hours)}` }),
    el("p", { text: stop.place }),
    el("p", { class: "muted", text: stop.address }),
    stop.bookable ? null : el("p", { class: "full", text: t("site.stop_full"), dataset: { testid: `full-${site.code}-${stop.date}` } }),
    el("button", {
      type: "button", class: "primary", text: t("site.choose_stop"), dataset: { testid: `stop-${site.code}-${stop.date}` },
      disabled: !stop.bookable,
      "aria-label": t("site.choose_stop_label", { place: stop.place, date: formatDay(stop.date) }),
      onclick: () => chooseSite(site, stop),
    }))));
}

function renderSites() {
  const query = fold($("site-search").value);
  const shown = state.sites.filter((site) => !query || [site.name, site.town, site.code].some((x) => fold(x).includes(query)));
  const list = $("site-list");
  clear(list);
  for (const site of shown) {
    const card = el("li", { class: "card site", dataset: { testid: `site-${site.code}` } },
      el("h2", { text: site.name }),
      el("p", { class: "muted", text: `${site.town} · ${t("site.code")} ${site.code}` }));
    if (site.mobile) {
      card.append(el("p", { class: "strong", text: t("site.mobile") }), siteStops(site));
    } else {
      card.append(el("p", { text: site.address }), siteHours(site), el("button", {
        type: "button", class: "primary", text: t("site.choose"), dataset: { testid: `choose-${site.code}` },
        "aria-label": t("site.choose_label", { name: site.name }), onclick: () => chooseSite(site, null),
      }));
    }
    list.append(card);
  }
  $("site-empty").hidden = shown.length > 0 || state.sites.length === 0;
}

async function loadSites() {
  const result = await api.sites();
  if (!result.ok) {
    showError("site-error", result);
    return;
  }
  showError("site-error", null);
  state.sites = Array.isArray(result.data.sites) ? result.data.sites : [];
  renderSites();
}

// ---------- 2. a day and a time ----------

function chooseSite(site, stop) {
  state.site = site;
  state.stop = stop;
  state.week = null;
  state.day = stop ? stop.date : null;
  renderWhere();
  clear($("day-list"));
  clear($("slot-list"));
  showError("slot-error", null);
  show("slot");
  loadSlots(stop ? stop.date : null).catch(report("slots"));
}

function renderWhere() {
  const { site, stop } = state;
  if (!site) return;
  $("slot-site").textContent = stop ? `${site.name} · ${stop.place}` : site.name;
  $("slot-address").textContent = stop ? `${formatDay(stop.date)} · ${stop.address}` : site.address;
}

async function loadSlots(day) {
  const result = await api.slots(state.site.code, day, state.stop ? 1 : WEEK);
  if (!result.ok) {
    showError("slot-error", result);
    return;
  }
  state.week = result.data;
  const days = new Set(state.week.slots.map((slot) => slot.date));
  if (!days.has(state.day)) state.day = [...days].sort()[0] ?? state.week.first_day;
  renderSlots();
}

function renderSlots() {
  const { week } = state;
  if (!week) return;
  const dayList = $("day-list");
  clear(dayList);
  for (let i = 0; i < week.days; i += 1) {
    const day = addDays(week.first_day, i);
    const count = week.slots.filter((slot) => slot.date === day).length;
    dayList.append(el("button", {
      type: "button", class: "day", dataset: { testid: `day-${day}` }, "aria-pressed": String(day === state.day),
      disabled: count === 0, onclick: () => { state.day = day; renderSlots(); $("slot-day").focus(); },
    }, el("span", { text: formatDay(day, "short") }),
    el("span", { class: "count", text: count ? t("slot.count", { count }) : t("slot.full") })));
  }
  $("week-previous").hidden = $("week-next").hidden = state.stop !== null;
  $("week-previous").disabled = week.first_day <= week.today;
  const today = week.slots.filter((slot) => slot.date === state.day);
  const heading = $("slot-day");
  heading.textContent = formatDay(state.day);
  heading.tabIndex = -1;
  heading.hidden = today.length === 0;
  const list = $("slot-list");
  clear(list);
  for (const slot of today) {
    const names = slot.gps.map((gp) => gp.name).join(", ");
    list.append(el("button", {
      type: "button", class: "slot", dataset: { testid: `slot-${slot.time}` },
      "aria-label": t("slot.label", { time: slot.time, gps: names || t("details.any_gp") }),
      onclick: () => chooseSlot(slot),
    }, el("span", { class: "time", text: slot.time }), el("span", { class: "gps", text: names })));
  }
  const empty = $("slot-empty");
  empty.hidden = today.length > 0;
  empty.textContent = week.slots.length === 0 ? t(state.stop ? "slot.none_stop" : "slot.none_week") : t("slot.none_day");
}

// ---------- 3. the patient ----------

function chooseSlot(slot) {
  state.slot = slot;
  showError("slot-error", null);
  showError("details-error", null);
  renderDetails();
  show("details");
}

function renderDetails() {
  const { slot, site, stop } = state;
  if (!slot) return;
  $("details-when").textContent = t("details.when", { date: formatDay(slot.date), time: slot.time });
  $("details-where").textContent = stop ? `${stop.place} · ${stop.address}` : `${site.name} · ${site.address}`;
  const chosen = new FormData($("details-form")).get("gp") ?? "";
  const options = $("gp-options");
  clear(options);
  const choices = [{ id: "", name: t("details.any_gp") }, ...slot.gps];
  for (const gp of choices) {
    options.append(el("label", { class: "choice" },
      el("input", { type: "radio", name: "gp", value: gp.id, checked: gp.id === chosen || (gp.id === "" && !slot.gps.some((g) => g.id === chosen)),
                    dataset: { testid: `gp-${gp.id || "any"}` } }),
      el("span", { text: gp.name })));
  }
  $("gp-fieldset").hidden = slot.gps.length === 0;
  updateAge();
}

/** Show the age rule's outcome as soon as the birth date is typed: the hub decides again. */
function updateAge() {
  const birth = $("birth-date").value;
  const note = $("age-note");
  const age = birth && state.slot ? ageOn(birth, state.slot.date) : null;
  const minor = age !== null && age >= 14 && age < 18;
  $("representative-field").hidden = !minor;
  $("representative").required = minor;
  note.hidden = age === null || age >= 14;
  note.textContent = note.hidden ? "" : t("error.under_14");
}

function formValues() {
  const form = new FormData($("details-form"));
  const text = (name) => String(form.get(name) ?? "").trim();
  return {
    site: state.site.code, start: state.slot.start, gp: text("gp") || null,
    patient_name: text("patient_name"), birth_date: text("birth_date"), sex: text("sex"),
    representative: $("representative-field").hidden ? null : text("representative") || null,
    phone: text("phone") || null, email: text("email") || null, language: language(),
    regular_doctor: REGULAR_DOCTOR[text("regular_doctor")] ?? null,
    terms_accepted: $("terms").checked,
  };
}

function missing(values) {
  const fields = ["patient_name", "birth_date", "sex"].filter((name) => !values[name]);
  if (!$("representative-field").hidden && !values.representative) fields.push("representative");
  if (!values.phone && !values.email) fields.push("contact");
  return fields;
}

async function onConfirm(event) {
  event.preventDefault();
  const values = formValues();
  const fields = missing(values);
  const refuse = (result) => {
    showError("details-error", result);
    $("details-error").focus();
  };
  if (fields.length) return refuse({ error: "missing", fields });
  if (!values.terms_accepted) return refuse({ error: "terms_not_accepted", data: {} });
  const button = $("confirm");
  button.disabled = true;
  try {
    const result = await api.book(values);
    if (result.ok) {
      state.booked = result.data;
      renderDone();
      show("done");
    } else if (result.error === "slot_taken") {
      state.slot = null;
      show("slot");
      await loadSlots(state.week?.first_day ?? null);
      showError("slot-error", result);
      $("slot-error").focus();
    } else {
      refuse(result);
    }
  } finally {
    button.disabled = false;
  }
}

// ---------- 4. the confirmation ----------

function renderDone() {
  const booked = state.booked;
  if (!booked) return;
  $("done-code").textContent = booked.code;
  $("done-when").textContent = t("done.when_text", { date: formatDay(booked.date), time: booked.time, end: booked.end_time });
  $("done-where").textContent = booked.place;
  $("done-address").textContent = booked.address;
  $("done-gp").textContent = booked.gp ?? t("details.any_gp");
  $("done-for").textContent = booked.representative
    ? t("done.for_minor", { name: booked.patient_name, representative: booked.representative }) : booked.patient_name;
  $("bring-representative").hidden = !booked.representative;
}

function bookAnother() {
  state.booked = state.slot = null;
  $("details-form").reset();
  for (const id of ["done-code", "done-when", "done-where", "done-address", "done-gp", "done-for"]) $(id).textContent = "";
  $("site-search").value = "";
  renderSites();
  show("site");
}

// ---------- cancelling ----------

function renderCancelled() {
  const node = $("cancel-done");
  const done = state.cancelled;
  node.hidden = done === null;
  node.textContent = done ? t("cancel.done", { code: done.code, site: done.site, date: formatDay(done.date), time: done.time }) : "";
}

async function onCancel(event) {
  event.preventDefault();
  const code = $("cancel-code").value.trim();
  const birth = $("cancel-birth").value;
  state.cancelled = null;
  renderCancelled();
  if (!code || !birth) return showError("cancel-error", { error: "missing", fields: ["code", "birth_date"].filter((f, i) => ![code, birth][i]) });
  const button = $("cancel-submit");
  button.disabled = true;
  try {
    const result = await api.cancel(code, birth);
    if (result.ok) {
      showError("cancel-error", null);
      state.cancelled = result.data;
      renderCancelled();
    } else {
      showError("cancel-error", result);
    }
  } finally {
    button.disabled = false;
  }
}

function openCancel() {
  state.cancelled = null;
  renderCancelled();
  showError("cancel-error", null);
  show("cancel");
}

// ---------- start ----------

function report(what) {
  return (error) => console.warn(`booking page: ${what} failed`, error);
}

function rerender() {
  $("lang-toggle").lang = otherLanguage();
  renderSites();
  renderWhere();
  renderSlots();
  renderDetails();
  renderDone();
  renderCancelled();
  for (const [id, result] of state.errors) $(id).textContent = errorText(result);
}

function bind() {
  $("lang-toggle").addEventListener("click", () => switchLanguage().catch(report("language switch")));
  $("start").addEventListener("click", () => {
    show("site");
    if (state.sites.length === 0) loadSites().catch(report("sites"));
  });
  $("go-cancel").addEventListener("click", openCancel);
  $("done-cancel").addEventListener("click", openCancel);
  $("done-again").addEventListener("click", bookAnother);
  $("site-search").addEventListener("input", renderSites);
  $("week-next").addEventListener("click", () => loadSlots(state.week.next_day).catch(report("slots")));
  $("week-previous").addEventListener("click", () => loadSlots(addDays(state.week.first_day, -WEEK)).catch(report("slots")));
  $("birth-date").addEventListener("input", updateAge);
  $("details-form").addEventListener("submit", (event) => onConfirm(event).catch(report("booking")));
  $("cancel-form").addEventListener("submit", (event) => onCancel(event).catch(report("cancel")));
  for (const button of document.querySelectorAll("[data-back]")) {
    button.addEventListener("click", () => show(button.dataset.back));
  }
  onLanguageChange(rerender);
}

try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("booking page: the text catalogues did not load", error);
}
bind();
$("lang-toggle").lang = otherLanguage();
show("intro");
loadSites().catch(report("sites"));
document.body.dataset.ready = "true";
