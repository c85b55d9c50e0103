// One builder per cabin state: each turns the station's view into DOM nodes, with every text
// from the message catalogue and personal data only through textContent (never as markup).

import { el } from "/ui/dom.js";
import { formatNumber, language, t, tCode } from "/ui/i18n.js";
import { audioCalibration } from "./hearing_calibration.js";
import { screening } from "./screening.js";

const TOUCHABLE = ["checking_in", "eligibility"];
const ADVICE = ["hold_still", "too_dark", "too_bright", "glare"];  // a camera's advice that needs words
const ILLUSTRATED = ["temperature", "blood_pressure", "spo2", "weight", "height", "otoscope", "dermatoscope", "glucose"];
// Glucose as each screen's patients read their own meter: g/L in France, mg/dL otherwise
// (factor from mg/dL, decimals, unit; docs/design.md "The glucometer").
const GLUCOSE_UNITS = { fr: [0.01, 2, "g/L"], en: [1, 0, "mg/dL"] };
// Booking codes (session/appointments.py): 8 characters without the look-alikes 0/O and 1/I/L.
const CODE_ALPHABET = [..."23456789ABCDEFGHJKMNPQRSTUVWXYZ"];
const CODE_LENGTH = 8;
const CODE_GROUP = 4;

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A text that counts from `seconds` (as of the view) up or down, refreshed by the page's ticker.
function ticking(key, seconds, direction, cls = "countdown", over = undefined) {
  return el("p", { class: cls, "data-tick": key, "data-base": seconds, "data-dir": direction, "aria-live": "off",
                   "data-over": over,
                   text: t(key, { time: clock(seconds), seconds: Math.round(seconds) }) });
}

function button(label, onclick, opts = {}) {
  return el("button", { type: "button", text: label, onclick, class: opts.cls, disabled: opts.disabled,
                        "aria-label": opts.aria, "data-action": opts.action });
}

function closed(view, ui) {
  const next = view.next_opening;
  const when = next ? ui.dateTime(next.start) + (next.place ? ` — ${next.place}` : "") : "";
  return [
    next ? el("p", { class: "big", text: t("closed.next", { when }) }) : null,
    el("p", { text: t("closed.book", { phone: view.site.phone, code: view.site.code }) }),
  ];
}

// The code as typed so far, hidden, in the groups the patient was given it in ("••••-••").
function hiddenCode(length) {
  const dots = "•".repeat(length);
  return length > CODE_GROUP ? `${dots.slice(0, CODE_GROUP)}-${dots.slice(CODE_GROUP)}` : dots;
}

// The check-in screen: what to know (`info`, a refusal, the way out) beside the code and its
// keypad, which kiosk.css keeps whole on the screen.
function keypad(view, ui, info = []) {
  const paused = view.checkin_paused_s - ui.elapsed() > 0;
  const full = ui.entry.length >= CODE_LENGTH;
  const keys = CODE_ALPHABET.map((symbol) =>
    button(symbol, () => ui.type(symbol), { disabled: paused || full, action: `code-${symbol}` }));
  keys.push(button("⌫", () => ui.erase(), { aria: t("keypad.erase.label"), disabled: paused, action: "erase" }));
  keys.push(button("✓", () => ui.submitCode(), {
    cls: "primary", aria: t("keypad.submit.label"), disabled: paused || !full, action: "submit",
  }));
  const refusal = view.session?.refusal;
  const notes = [...info];
  if (paused) {
    const pause = ticking("refusal.paused", view.checkin_paused_s, -1, "notice");
    pause.dataset.rerender = "";  // the keypad comes back when the pause ends
    notes.push(pause);
  }
  else if (refusal) {
    notes.push(el("p", { class: "notice", id: "refusal", "data-reason": refusal.reason,
                         text: t(`refusal.${refusal.reason}`, {
                           phone: view.site.phone, time: refusal.opens_at ? ui.dateTime(refusal.opens_at) : "",
                         }) }));
  }
  if (view.state === "checking_in") {
    notes.push(el("div", { class: "actions" }, button(t("cancel"), () => ui.post("/api/cancel"), { action: "cancel" })));
  }
  return [el("div", { class: "checkin" },
    el("div", { class: "checkin-info" }, notes),
    el("div", { class: "checkin-pad" },
      el("p", { class: "code", id: "code-entry", role: "status", "aria-label": t("keypad.entry"),
                text: hiddenCode(ui.entry.length) }),
      el("div", { class: "keypad", role: "group", "aria-label": t("keypad.label") }, keys)))];
}

function ready(view, ui) {
  const until = view.closes_at ? ui.time(view.closes_at) : "";
  return keypad(view, ui, [
    view.site.address ? el("p", { text: view.site.address }) : null,
    until ? el("p", { id: "hours", text: t("ready.hours", { until }) }) : null,
  ]);
}

function checkingIn(view, ui) {
  const patient = view.session?.patient;
  if (!patient) return keypad(view, ui);
  return [
    el("h3", { class: "big", text: t("identity.title") }),
    el("p", { class: "big", id: "patient-name", text: patient.name }),
    el("p", { text: t("identity.born", { year: patient.birth_year }) }),
    el("div", { class: "actions" },
      button(t("identity.confirm"), () => ui.post("/api/identity", { confirm: true }), { cls: "primary", action: "confirm" }),
      button(t("identity.reject"), () => ui.post("/api/identity", { confirm: false }), { cls: "danger", action: "reject" })),
  ];
}

function keyboard(ui) {
  const letters = [..."AZERTYUIOPQSDFGHJKLMWXCVBNÉÈ-'"].map((letter) =>
    button(letter, () => ui.typeName(letter), { action: `key-${letter}` }));
  letters.push(button("␣", () => ui.typeName(" "), { aria: t("keyboard.space") }));
  letters.push(button("⌫", () => ui.eraseName(), { aria: t("keypad.erase.label") }));
  return el("div", { class: "keyboard", role: "group", "aria-label": t("keyboard.label") }, letters);
}

function consent(view, ui) {
  return [
    el("h3", { class: "big", text: t("consent.title") }),
    el("p", { text: t("consent.text") }),
    el("div", { class: "actions" },
      button(t("consent.accept"), () => ui.post("/api/consent", { accepted: true }), { cls: "primary", action: "consent" }),
      button(t("consent.decline"), () => ui.post("/api/consent", { accepted: false }), { cls: "danger", action: "decline" })),
  ];
}

function eligibility(view, ui) {
  const verdict = view.session?.eligibility;
  if (!verdict) return [];
  if (verdict.verdict === "refused_under_14") {
    return [
      el("h3", { class: "big", id: "refused", text: t("eligibility.refused.title") }),
      el("p", { text: t("eligibility.refused.text", { phone: view.site.phone }) }),
      el("div", { class: "actions" },
        button(t("eligibility.refused.leave"), () => ui.post("/api/leave"), { cls: "primary", action: "leave" })),
    ];
  }
  if (verdict.verdict === "needs_representative") {
    return [
      el("p", { class: "big", text: t("eligibility.minor", { age: verdict.age }) }),
      el("label", { for: "representative", text: t("eligibility.representative") }),
      el("input", { id: "representative", type: "text", value: ui.name, readonly: true,
                    "aria-label": t("eligibility.representative") }),
      keyboard(ui),
      el("div", { class: "actions" },
        button(t("eligibility.representative.submit"),
          () => ui.post("/api/representative", { present: true, name: ui.name }),
          { cls: "primary", disabled: ui.name.trim() === "", action: "representative" })),
    ];
  }
  return consent(view, ui);
}

function waiting(view) {
  return [ticking("waiting.time", view.session?.waiting_s ?? 0, 1)];
}

function formatReading(reading) {
  const value = reading.value;
  if (reading.kind === "glucose" && typeof value === "number") {
    const [factor, digits, unit] = GLUCOSE_UNITS[language()] ?? GLUCOSE_UNITS.en;
    return `${formatNumber(value * factor, digits, digits)} ${unit}`;
  }
  if (value && typeof value === "object" && "systolic" in value) {
    return `${Math.round(value.systolic)}/${Math.round(value.diastolic)} ${reading.unit}`;
  }
  if (typeof value === "number") {
    const digits = reading.unit === "m" ? 2 : 1; // a height in metres: to the centimetre
    const text = `${Number.isInteger(value) ? value : value.toFixed(digits)} ${reading.unit}`;
    return typeof reading.bmi === "number" ? `${text}, ${bmiText(reading)}` : text;
  }
  return "";
}

// The same BMI as the GP's, saying when the stadiometer's height replaced the scale's (docs/design.md).
function bmiText(reading) {
  const key = reading.height_source === "measured" ? "instrument.bmi_measured" : "instrument.bmi";
  return t(key, { value: reading.bmi.toFixed(1) });
}

function instrument(view, ui) {
  if (view.session?.screening) return [screening(view.session.screening, ui)];
  const camera = view.session?.camera;
  const requested = camera ? { kind: camera.kind } : view.session?.requested;
  if (!requested) return [];
  const kind = requested.kind;
  const reading = (view.session.readings ?? []).find((r) => r.kind === kind);
  // An instrument the page has no words for yet shows its code and no steps (the catalogue test
  // covers every kind the GP can ask for).
  const steps = tCode("kind", `${kind}.steps`).split("|").filter(Boolean);
  return [el("div", { class: "instrument", id: "instrument", "data-kind": kind },
    el("img", { src: `/static/${ILLUSTRATED.includes(kind) ? `instrument-${kind}` : "instrument"}.svg`, alt: "", "aria-hidden": "true" }),
    el("h3", { text: t("instrument.title", { instrument: tCode("kind", kind, kind) }) }),
    el("ol", { class: "steps" }, steps.map((step) => el("li", { text: step }))),
    ADVICE.includes(camera?.guidance)
      ? el("p", { class: "hold", id: "guidance", "data-guidance": camera.guidance, role: "alert",
                  text: tCode(`instrument.${kind}`, camera.guidance, t(`instrument.${camera.guidance}`)) }) : null,
    camera ? null : reading
      ? el("p", { class: "reading", id: "reading", text: t("instrument.reading", { value: formatReading(reading) }) })
      : el("p", { text: t("instrument.waiting") }))];
}

// The stethoscope (session/auscultation.py): where to place the chest piece, on the chest or the back.
const HEART_POINTS = ["aortic", "pulmonary", "tricuspid", "mitral"];

function auscultation(point) {
  const area = HEART_POINTS.includes(point) ? "heart" : "lungs";
  const steps = t(`auscultation.${area}.steps`).split("|").filter(Boolean);
  return [el("div", { class: "instrument", id: "auscultation", "data-point": point },
    el("img", { src: `/static/auscultation-${point}.svg`, alt: t(`auscultation.point.${point}`) }),
    el("h3", { text: t(`auscultation.${area}`) }),
    el("p", { class: "big", id: "auscultation-point", text: t(`auscultation.point.${point}`) }),
    el("ol", { class: "steps" }, steps.map((step) => el("li", { text: step }))))];
}

function consultation(view, ui) {
  // A screening or a camera the GP switched on comes before the chest piece's point.
  const point = view.session?.screening || view.session?.camera ? null : view.session?.auscultation?.point;
  return [
    view.degraded?.length ? el("p", { class: "notice", text: t("degraded") }) : null,
    ...(point ? auscultation(point) : instrument(view, ui)),
  ];
}

function wrappingUp(view, ui) {
  const prints = view.session?.prints ?? [];
  let key = "print.none";
  let state = "none";
  if (prints.some((p) => p.error)) { key = "print.failed"; state = "failed"; }
  else if (prints.length && prints.every((p) => p.printed)) { key = "print.done"; state = "printed"; }
  else if (prints.length) { key = "print.progress"; state = "printing"; }
  return [
    el("p", { class: state === "failed" ? "notice" : "big", id: "print-status", "data-print": state,
              text: t(key, { phone: view.site.phone }) }),
    state === "printing" ? el("progress", { "aria-label": t("print.progress") }) : null,
    el("div", { class: "actions" }, button(t("leave"), () => ui.post("/api/leave"), { cls: "primary", action: "leave" })),
  ];
}

function recentCleanings(view, ui) {
  const recent = view.recent_cleanings ?? [];
  return [
    el("h3", { text: t("cleaning.recent") }),
    recent.length
      ? el("ul", { id: "recent-cleanings" }, recent.map((r) => el("li", { text: ui.dateTime(r.at) })))
      : el("p", { text: t("cleaning.none") }),
  ];
}

function awaitingCleaning(view, ui) {
  return [el("p", { class: "big", text: t("cleaning.badge") }), ...recentCleanings(view, ui)];
}

function cleaning(view, ui) {
  const run = view.cleaning;
  if (!run) return [];
  const steps = run.steps;
  const index = steps.findIndex((s) => s.id === run.next_step);
  const nodes = [];
  if (index >= 0) {
    const step = steps[index];
    nodes.push(
      el("p", { text: t("cleaning.step", { n: index + 1, total: steps.length }) }),
      el("p", { class: "big", id: "cleaning-step", "data-step": step.id, text: step.text }),
      el("div", { class: "actions" }, button(t("cleaning.done"), () => ui.post("/api/cleaning/step", { step: step.id }),
        { cls: "primary", aria: t("cleaning.done.label", { step: step.text }), action: "step-done" })),
    );
  } else {
    nodes.push(el("p", { class: "big", id: "cleaning-confirm", text: t("cleaning.confirm") }));
  }
  // The contact time counts down only once the disinfectant is on; before, it shows in full.
  if (run.contact_remaining_s > 0) {
    nodes.push(ticking("cleaning.contact", run.contact_remaining_s, run.contact_started ? -1 : 0, "countdown",
      "cleaning.contact.over"));
  } else nodes.push(el("p", { id: "contact-over", text: t("cleaning.contact.over") }));
  return nodes;
}

function outOfService(view) {
  return view.out_of_service_reason
    ? [el("p", { class: "notice", id: "oos-reason", text: t("out_of_service.reason", { reason: view.out_of_service_reason }) })]
    : [];
}

function healthText(device) {
  const parts = [t(device.connected ? "device.connected" : "device.disconnected")];
  if (device.battery_percent !== null && device.battery_percent !== undefined) {
    parts.push(t("device.battery", { percent: device.battery_percent }));
  }
  if (device.last_error) parts.push(t("device.error", { error: device.last_error }));
  return parts.join(", ");
}

function maintenance(view, ui) {
  const rows = (view.devices ?? []).map((device) => el("tr", { "data-device": device.device_id },
    el("th", { scope: "row", text: device.device_id }),
    el("td", { text: healthText(device), "data-connected": String(device.connected) }),
    el("td", {}, button(t("device.selftest"), () => ui.selfTest(device.device_id),
      { aria: t("device.selftest.label", { device: device.device_id }), action: `selftest-${device.device_id}` }))));
  return [
    el("h3", { text: t("devices.title") }),
    el("table", { class: "devices", id: "devices" }, el("tbody", {}, rows)),
    ...audioCalibration(view, ui),
    el("div", { class: "actions" },
      button(t("printer.test"), () => ui.testPrint(), { action: "test-print" })),
    el("label", { for: "oos-input", text: t("oos.reason") }),
    el("input", { id: "oos-input", type: "text", value: ui.name, readonly: true, "aria-label": t("oos.reason") }),
    keyboard(ui),
    el("div", { class: "actions" },
      button(t("oos.submit"), () => ui.post("/api/maintenance/out-of-service", { reason: ui.name }),
        { cls: "danger", disabled: ui.name.trim() === "", action: "out-of-service" }),
      button(t("oos.return"), () => ui.post("/api/maintenance/return"), { action: "return-to-service" })),
  ];
}

// On board (docs/design.md, "On board"): the screen is the waiting room's, by ticket numbers only, except
// while the stop is closed and on the referent's and the technician's screens.
const OWN_SCREENS = ["closed", "awaiting_cleaning", "cleaning", "maintenance", "out_of_service"];

export function showsBoard(view) {
  return Boolean(view?.on_board) && !OWN_SCREENS.includes(view.state);
}

function board(view) {
  const { called, waiting } = view.board ?? { called: null, waiting: [] };
  return [
    called
      ? el("p", { class: "called", id: "board-called", "data-ticket": called, text: t("board.called", { ticket: called }) })
      : el("p", { class: "big", id: "board-called", text: t("board.none") }),
    el("h3", { text: t("board.waiting") }),
    waiting.length
      ? el("ol", { class: "tickets", id: "board-waiting" },
        waiting.map((ticket) => el("li", { "data-ticket": ticket, text: t("board.ticket", { ticket }) })))
      : el("p", { id: "board-waiting", text: t("board.empty") }),
  ];
}

const BUILDERS = {
  closed, ready, checking_in: checkingIn, eligibility, waiting_for_doctor: waiting, in_consultation: consultation,
  reconnecting: consultation, wrapping_up: wrappingUp, awaiting_cleaning: awaitingCleaning, cleaning,
  out_of_service: outOfService, maintenance,
};

export function buildScreen(view, ui) {
  const build = showsBoard(view) ? board : BUILDERS[view.state] ?? (() => []);
  return build(view, ui).filter(Boolean);
}

export function touchable(view) {
  return Boolean(view && TOUCHABLE.includes(view.state));
}
