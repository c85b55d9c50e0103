// One builder per cabin state: each turns the station's view into DOM nodes, with every text
// from the message catalogue and personal data only through textContent (never as markup).

const TOUCHABLE = ["checking_in", "eligibility"];
const ADVICE = ["hold_still", "too_dark", "too_bright"];  // the otoscope's advice that needs words
const ILLUSTRATED = ["temperature", "blood_pressure", "spo2", "weight", "otoscope"];

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else if (key.startsWith("data-") || key.startsWith("aria-") || ["role", "type", "id", "class", "for", "scope"].includes(key)) {
      node.setAttribute(key, value === true ? "" : String(value));
    } else node[key] = value;
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A text that counts from `seconds` (as of the view) up or down, refreshed by the page's ticker.
function ticking(ui, key, seconds, direction, cls = "countdown", over = undefined) {
  return el("p", { class: cls, "data-tick": key, "data-base": seconds, "data-dir": direction, "aria-live": "off",
                   "data-over": over,
                   text: ui.t(key, { time: clock(seconds), seconds: Math.round(seconds) }) });
}

function button(label, onclick, opts = {}) {
  return el("button", { type: "button", text: label, onclick, class: opts.cls, disabled: opts.disabled,
                        "aria-label": opts.aria, "data-action": opts.action });
}

function closed(view, ui) {
  const next = view.next_opening;
  const when = next ? ui.dateTime(next.start) + (next.place ? ` — ${next.place}` : "") : "";
  return [
    next ? el("p", { class: "big", text: ui.t("closed.next", { when }) }) : null,
    el("p", { text: ui.t("closed.book", { phone: view.site.phone, code: view.site.code }) }),
  ];
}

function keypad(view, ui) {
  const paused = view.checkin_paused_s - ui.elapsed() > 0;
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map((digit) =>
    button(digit, () => ui.type(digit), { disabled: paused, action: `digit-${digit}` }));
  keys.push(button("⌫", () => ui.erase(), { aria: ui.t("keypad.erase.label"), disabled: paused, action: "erase" }));
  keys.push(button("0", () => ui.type("0"), { disabled: paused, action: "digit-0" }));
  keys.push(button("✓", () => ui.submitCode(), {
    cls: "primary", aria: ui.t("keypad.submit.label"), disabled: paused || ui.entry.length < 4, action: "submit",
  }));
  const refusal = view.session?.refusal;
  const nodes = [
    el("p", { class: "code", id: "code-entry", role: "status", "aria-label": ui.t("keypad.entry"),
              text: "•".repeat(ui.entry.length) }),
    el("div", { class: "keypad", role: "group", "aria-label": ui.t("keypad.label") }, keys),
  ];
  if (paused) {
    const pause = ticking(ui, "refusal.paused", view.checkin_paused_s, -1, "notice");
    pause.dataset.rerender = "";  // the keypad comes back when the pause ends
    nodes.unshift(pause);
  }
  else if (refusal) {
    nodes.unshift(el("p", { class: "notice", id: "refusal", "data-reason": refusal.reason,
                            text: ui.t(`refusal.${refusal.reason}`, { phone: view.site.phone }) }));
  }
  if (view.state === "checking_in") {
    nodes.push(el("div", { class: "actions" }, button(ui.t("cancel"), () => ui.post("/api/cancel"), { action: "cancel" })));
  }
  return nodes;
}

function ready(view, ui) {
  const until = view.closes_at ? ui.time(view.closes_at) : "";
  return [
    view.site.address ? el("p", { text: view.site.address }) : null,
    until ? el("p", { id: "hours", text: ui.t("ready.hours", { until }) }) : null,
    ...keypad(view, ui),
  ];
}

function checkingIn(view, ui) {
  const patient = view.session?.patient;
  if (!patient) return keypad(view, ui);
  return [
    el("h3", { class: "big", text: ui.t("identity.title") }),
    el("p", { class: "big", id: "patient-name", text: patient.name }),
    el("p", { text: ui.t("identity.born", { year: patient.birth_year }) }),
    el("div", { class: "actions" },
      button(ui.t("identity.confirm"), () => ui.post("/api/identity", { confirm: true }), { cls: "primary", action: "confirm" }),
      button(ui.t("identity.reject"), () => ui.post("/api/identity", { confirm: false }), { cls: "danger", action: "reject" })),
  ];
}

function keyboard(ui) {
  const letters = [..."AZERTYUIOPQSDFGHJKLMWXCVBNÉÈ-'"].map((letter) =>
    button(letter, () => ui.typeName(letter), { action: `key-${letter}` }));
  letters.push(button("␣", () => ui.typeName(" "), { aria: ui.t("keyboard.space") }));
  letters.push(button("⌫", () => ui.eraseName(), { aria: ui.t("keypad.erase.label") }));
  return el("div", { class: "keyboard", role: "group", "aria-label": ui.t("keyboard.label") }, letters);
}

function consent(view, ui) {
  return [
    el("h3", { class: "big", text: ui.t("consent.title") }),
    el("p", { text: ui.t("consent.text") }),
    el("div", { class: "actions" },
      button(ui.t("consent.accept"), () => ui.post("/api/consent", { accepted: true }), { cls: "primary", action: "consent" }),
      button(ui.t("consent.decline"), () => ui.post("/api/consent", { accepted: false }), { cls: "danger", action: "decline" })),
  ];
}

function eligibility(view, ui) {
  const verdict = view.session?.eligibility;
  if (!verdict) return [];
  if (verdict.verdict === "refused_under_14") {
    return [
      el("h3", { class: "big", id: "refused", text: ui.t("eligibility.refused.title") }),
      el("p", { text: ui.t("eligibility.refused.text", { phone: view.site.phone }) }),
      el("div", { class: "actions" },
        button(ui.t("eligibility.refused.leave"), () => ui.post("/api/leave"), { cls: "primary", action: "leave" })),
    ];
  }
  if (verdict.verdict === "needs_representative") {
    return [
      el("p", { class: "big", text: ui.t("eligibility.minor", { age: verdict.age }) }),
      el("label", { for: "representative", text: ui.t("eligibility.representative") }),
      el("input", { id: "representative", type: "text", value: ui.name, readOnly: true,
                    "aria-label": ui.t("eligibility.representative") }),
      keyboard(ui),
      el("div", { class: "actions" },
        button(ui.t("eligibility.representative.submit"),
          () => ui.post("/api/representative", { present: true, name: ui.name }),
          { cls: "primary", disabled: ui.name.trim() === "", action: "representative" })),
    ];
  }
  return consent(view, ui);
}

function waiting(view, ui) {
  return [ticking(ui, "waiting.time", view.session?.waiting_s ?? 0, 1)];
}

function formatReading(reading) {
  const value = reading.value;
  if (value && typeof value === "object" && "systolic" in value) {
    return `${Math.round(value.systolic)}/${Math.round(value.diastolic)} ${reading.unit}`;
  }
  if (typeof value === "number") return `${Number.isInteger(value) ? value : value.toFixed(1)} ${reading.unit}`;
  return "";
}

function instrument(view, ui) {
  const camera = view.session?.camera;
  const requested = camera ? { kind: "otoscope" } : view.session?.requested;
  if (!requested) return [];
  const kind = requested.kind;
  const reading = (view.session.readings ?? []).find((r) => r.kind === kind);
  const steps = ui.t(`kind.${kind}.steps`).split("|").filter(Boolean);
  return [el("div", { class: "instrument", id: "instrument", "data-kind": kind },
    el("img", { src: `/static/${ILLUSTRATED.includes(kind) ? `instrument-${kind}` : "instrument"}.svg`, alt: "", "aria-hidden": "true" }),
    el("h3", { text: ui.t("instrument.title", { instrument: ui.t(`kind.${kind}`) || kind }) }),
    el("ol", { class: "steps" }, steps.map((step) => el("li", { text: step }))),
    ADVICE.includes(camera?.guidance)
      ? el("p", { class: "hold", id: "guidance", "data-guidance": camera.guidance, role: "alert",
                  text: ui.t(`instrument.${camera.guidance}`) }) : null,
    camera ? null : reading
      ? el("p", { class: "reading", id: "reading", text: ui.t("instrument.reading", { value: formatReading(reading) }) })
      : el("p", { text: ui.t("instrument.waiting") }))];
}

function consultation(view, ui) {
  return [
    view.degraded?.length ? el("p", { class: "notice", text: ui.t("degraded") }) : null,
    ...instrument(view, ui),
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
              text: ui.t(key, { phone: view.site.phone }) }),
    state === "printing" ? el("progress", { "aria-label": ui.t("print.progress") }) : null,
    el("div", { class: "actions" }, button(ui.t("leave"), () => ui.post("/api/leave"), { cls: "primary", action: "leave" })),
  ];
}

function recentCleanings(view, ui) {
  const recent = view.recent_cleanings ?? [];
  return [
    el("h3", { text: ui.t("cleaning.recent") }),
    recent.length
      ? el("ul", { id: "recent-cleanings" }, recent.map((r) => el("li", { text: ui.dateTime(r.at) })))
      : el("p", { text: ui.t("cleaning.none") }),
  ];
}

function awaitingCleaning(view, ui) {
  return [el("p", { class: "big", text: ui.t("cleaning.badge") }), ...recentCleanings(view, ui)];
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
      el("p", { text: ui.t("cleaning.step", { n: index + 1, total: steps.length }) }),
      el("p", { class: "big", id: "cleaning-step", "data-step": step.id, text: step.text }),
      el("div", { class: "actions" }, button(ui.t("cleaning.done"), () => ui.post("/api/cleaning/step", { step: step.id }),
        { cls: "primary", aria: ui.t("cleaning.done.label", { step: step.text }), action: "step-done" })),
    );
  } else {
    nodes.push(el("p", { class: "big", id: "cleaning-confirm", text: ui.t("cleaning.confirm") }));
  }
  // The contact time counts down only once the disinfectant is on; before, it shows in full.
  if (run.contact_remaining_s > 0) {
    nodes.push(ticking(ui, "cleaning.contact", run.contact_remaining_s, run.contact_started ? -1 : 0, "countdown",
      "cleaning.contact.over"));
  } else nodes.push(el("p", { id: "contact-over", text: ui.t("cleaning.contact.over") }));
  return nodes;
}

function outOfService(view, ui) {
  return view.out_of_service_reason
    ? [el("p", { class: "notice", id: "oos-reason", text: ui.t("out_of_service.reason", { reason: view.out_of_service_reason }) })]
    : [];
}

function healthText(device, ui) {
  const parts = [ui.t(device.connected ? "device.connected" : "device.disconnected")];
  if (device.battery_percent !== null && device.battery_percent !== undefined) {
    parts.push(ui.t("device.battery", { percent: device.battery_percent }));
  }
  if (device.last_error) parts.push(ui.t("device.error", { error: device.last_error }));
  return parts.join(", ");
}

function maintenance(view, ui) {
  const rows = (view.devices ?? []).map((device) => el("tr", { "data-device": device.device_id },
    el("th", { scope: "row", text: device.device_id }),
    el("td", { text: healthText(device, ui), "data-connected": String(device.connected) }),
    el("td", {}, button(ui.t("device.selftest"), () => ui.selfTest(device.device_id),
      { aria: ui.t("device.selftest.label", { device: device.device_id }), action: `selftest-${device.device_id}` }))));
  return [
    el("h3", { text: ui.t("devices.title") }),
    el("table", { class: "devices", id: "devices" }, el("tbody", {}, rows)),
    el("div", { class: "actions" },
      button(ui.t("printer.test"), () => ui.testPrint(), { action: "test-print" })),
    el("label", { for: "oos-input", text: ui.t("oos.reason") }),
    el("input", { id: "oos-input", type: "text", value: ui.name, readOnly: true, "aria-label": ui.t("oos.reason") }),
    keyboard(ui),
    el("div", { class: "actions" },
      button(ui.t("oos.submit"), () => ui.post("/api/maintenance/out-of-service", { reason: ui.name }),
        { cls: "danger", disabled: ui.name.trim() === "", action: "out-of-service" }),
      button(ui.t("oos.return"), () => ui.post("/api/maintenance/return"), { action: "return-to-service" })),
  ];
}

const BUILDERS = {
  closed, ready, checking_in: checkingIn, eligibility, waiting_for_doctor: waiting, in_consultation: consultation,
  reconnecting: consultation, wrapping_up: wrappingUp, awaiting_cleaning: awaitingCleaning, cleaning,
  out_of_service: outOfService, maintenance,
};

export function buildScreen(view, ui) {
  return (BUILDERS[view.state] ?? (() => []))(view, ui).filter(Boolean);
}

export function touchable(view) {
  return Boolean(view && TOUCHABLE.includes(view.state));
}
