// The instruments' readings: the latest one per instrument with its device, reception time and
// quality flags; stale once older than the cabin's stale_after_s (counted from reception here,
// since the station's host_time is its own monotonic clock); rejected readings show their reason,
// never a value. Cuff pressure and the pleth waveform are live views inside their cards.

import { $, clear, el, fitCanvas, fromTemplate, role } from "/ui/dom.js";
import { applyStatic, formatDateTime, formatNumber, formatTime, t, tCode } from "/ui/i18n.js";
import { drawAudiogram } from "./audiogram.js";
import { formatDuration } from "./duration.js";
import { visionSecondary, visionText } from "./vision.js";
import { glucoseDetails, glucoseUnit, glucoseUnitSwitch, glucoseValue } from "./glucose.js";

export const INSTRUMENTS = ["temperature", "blood_pressure", "spo2", "weight", "height", "vision", "glucose", "hearing"];
// Which card shows a kind's readings (and the rejections of that kind).
const CARD_OF = { temperature: "temperature", blood_pressure: "blood_pressure", cuff_pressure: "blood_pressure",
  spo2: "spo2", pleth: "spo2", weight: "weight", height: "height", vision: "vision", glucose: "glucose",
  hearing: "hearing" };
const WARNING_FLAGS = new Set(["finger_out", "cuff_too_loose", "improper_position", "erratic_signal", "low_perfusion",
  "questionable", "body_movement", "irregular_pulse", "pulse_rate_out_of_range", "low_battery"]);
const CUFF_IDLE_MS = 5000;
const CUFF_MAX_MMHG = 300;
const PLETH_SECONDS = 6;

const card = (kind) => $(`reading-${kind}`);

/** One card per instrument from the page's template; the cuff gauge and the waveform go in theirs. */
function buildCards() {
  for (const kind of INSTRUMENTS) {
    const node = fromTemplate("reading-card-template");
    Object.assign(node.dataset, { testid: `reading-${kind}`, kind });
    node.id = `reading-${kind}`;
    node.setAttribute("aria-labelledby", `reading-${kind}-title`);
    const title = role(node, "title");
    title.id = `reading-${kind}-title`;
    title.dataset.i18n = `kind.${kind}`;
    Object.assign(node.querySelector("button.request").dataset, { testid: `request-${kind}`, kind, i18n: `request.${kind}` });
    applyStatic(node);
    $("readings").append(node);
  }
  card("blood_pressure").querySelector(".value").before(fromTemplate("cuff-template"));
  role(card("spo2"), "secondary").after(fromTemplate("pleth-template"));
  role(card("hearing"), "secondary").after(el("div", { class: "audiogram", "data-role": "audiogram", hidden: true }));
}

export class Vitals {
  constructor() {
    buildCards();
    this.glucoseSwitch = glucoseUnitSwitch(() => this.renderCard("glucose"));
    card("glucose").querySelector(".value").after(this.glucoseSwitch.node);
    this.canvas = $("pleth-canvas");
    this.dirty = false;
    this.frame = 0;
    this.reset();
    new ResizeObserver(() => this.sizeCanvas()).observe(this.canvas);
  }

  /** Forget every reading (end of consultation): nothing of the patient stays in memory or on screen. */
  reset() {
    this.latest = {}; // card kind -> {m, at: Date, mono: ms, staleAfterMs}
    this.requests = {}; // card kind -> "sent" | "acknowledged"
    this.cuff = null; // {mmhg, mono, idleMs}
    this.pleth = { samples: [], capacity: 0, mono: 0, staleAfterMs: null, flags: [] };
    this.clearCanvas();
    for (const kind of INSTRUMENTS) this.renderCard(kind);
    this.renderCuff();
    this.dirty = true;
    this.scheduleDraw();
  }

  /** A `reading` message from the vitals channel. */
  onReading(message) {
    const m = message.measurement;
    const staleAfterMs = typeof message.stale_after_s === "number" && message.stale_after_s > 0 ? message.stale_after_s * 1000 : null;
    const mono = performance.now();
    if (m.kind === "cuff_pressure") {
      this.cuff = { mmhg: m.value, mono, idleMs: Math.max(staleAfterMs ?? 0, CUFF_IDLE_MS) };
      this.renderCuff();
      return;
    }
    if (m.kind === "pleth") {
      this.addPleth(m, mono, staleAfterMs);
      return;
    }
    if (m.kind === "rejected" && (m.measurement_kind === "pleth" || m.measurement_kind === "cuff_pressure")) {
      // A bad waveform chunk or cuff sample must not hide the last real SpO2 or blood pressure.
      console.warn("console: the cabin rejected a live sample", m.measurement_kind, m.rule);
      return;
    }
    const kind = CARD_OF[m.kind === "rejected" ? m.measurement_kind : m.kind];
    if (!kind) {
      console.warn("console: a reading of no instrument shown here", m.kind, m.measurement_kind);
      return;
    }
    this.latest[kind] = { m, at: new Date(), mono, staleAfterMs };
    delete this.requests[kind];
    if (kind === "blood_pressure") {
      this.cuff = null; // the measurement is over: the final value replaces the live cuff
      this.renderCuff();
    }
    this.renderCard(kind);
  }

  /** A measurement request went out (`sent`) or the cabin acknowledged it. */
  onRequest(kind, status) {
    if (!INSTRUMENTS.includes(kind)) return;
    this.requests[kind] = status;
    this.renderCard(kind);
  }

  /** The latest accepted weight in kg, for the prescription form. */
  latestWeight() {
    const entry = this.latest.weight;
    return entry && entry.m.kind === "weight" ? entry.m.value : null;
  }

  /** Once a second: staleness, ages, the cuff's idleness. */
  tick() {
    for (const kind of INSTRUMENTS) this.renderAge(kind);
    if (this.cuff && performance.now() - this.cuff.mono > this.cuff.idleMs) {
      this.cuff = null;
      this.renderCuff();
    }
    const plethStale = this.isPlethStale();
    const wrap = $("pleth-wrap");
    if (wrap.dataset.stale !== String(plethStale)) {
      wrap.dataset.stale = String(plethStale);
      this.dirty = true;
      this.scheduleDraw();
    }
  }

  /** Everything again, in the new language. */
  render() {
    for (const kind of INSTRUMENTS) this.renderCard(kind);
    this.renderCuff();
    this.glucoseSwitch.render();
  }

  renderCard(kind) {
    const root = card(kind);
    const entry = this.latest[kind];
    const m = entry?.m;
    root.dataset.state = !m ? "empty" : m.kind === "rejected" ? "rejected" : "ok";
    const valueEl = role(root, "value");
    const unitEl = role(root, "unit");
    const rejected = role(root, "rejected");
    const secondary = role(root, "secondary");
    clear(secondary);
    rejected.hidden = true;
    if (!m) {
      valueEl.textContent = t("reading.none");
      unitEl.textContent = "";
      delete root.dataset.value;
    } else if (m.kind === "rejected") {
      valueEl.textContent = t("reading.none");
      unitEl.textContent = "";
      delete root.dataset.value;
      rejected.hidden = false;
      role(rejected, "rejected-rule").textContent = tCode("rule", m.rule, t("reading.rejected_generic"));
      role(rejected, "rejected-reason").textContent = m.reason ? t("reading.rejected_detail", { reason: m.reason }) : "";
    } else {
      valueEl.textContent = this.valueText(m);
      unitEl.textContent = kind === "vision" ? t("vision.screening") : kind === "glucose" ? glucoseUnit()
        : kind === "hearing" ? "" : m.unit ?? ""; // the audiogram's axis says dB HL
      root.dataset.value = kind === "blood_pressure" ? `${m.value.systolic}/${m.value.diastolic}`
        : kind === "vision" ? valueEl.textContent : kind === "hearing" ? String(m.reliable) : String(m.value);
      for (const text of this.secondaryTexts(m)) secondary.append(el("span", { text }));
    }
    this.renderFlags(role(root, "flags"), m?.flags ?? []);
    this.renderDevice(root, m);
    const request = this.requests[kind];
    role(root, "request-status").textContent = request ? t(`request.status_${request}`) : "";
    root.dataset.requested = request ?? "";
    if (kind === "hearing") drawAudiogram(role(root, "audiogram"), m?.kind === "hearing" ? m : null);
    this.renderAge(kind);
  }

  valueText(m) {
    switch (m.kind) {
      case "temperature":
        return formatNumber(m.value, 1, 1);
      case "blood_pressure":
        return t("reading.bp_value", { systolic: formatNumber(m.value.systolic), diastolic: formatNumber(m.value.diastolic) });
      case "weight":
        return formatNumber(m.value, 1, 1);
      case "height":
        return formatNumber(m.value, 2, 2);
      case "vision":
        return visionText(m);
      case "glucose":
        return glucoseValue(m);
      case "hearing":
        return t(m.reliable ? "audiogram.reliable" : "audiogram.unreliable");
      default:
        return formatNumber(m.value, 0);
    }
  }

  secondaryTexts(m) {
    const out = [];
    const num = (x) => typeof x === "number" && Number.isFinite(x);
    if (m.kind === "temperature" && m.site) out.push(t("reading.site", { site: tCode("site", m.site, m.site) }));
    if (m.kind === "blood_pressure" && num(m.value.mean_arterial)) out.push(t("reading.map", { value: formatNumber(m.value.mean_arterial) }));
    if (num(m.pulse_bpm)) out.push(t("reading.pulse", { value: formatNumber(m.pulse_bpm) }));
    if (m.kind === "spo2" && num(m.perfusion_index)) out.push(t("reading.pi", { value: formatNumber(m.perfusion_index, 1) }));
    if (m.kind === "weight" && num(m.bmi)) {
      // The stadiometer's height replaced the scale's: the cabin says so (docs/design.md, "The stadiometer").
      const key = m.height_source === "measured" ? "reading.bmi_measured" : "reading.bmi";
      out.push(t(key, { value: formatNumber(m.bmi, 1) }));
    }
    if (m.kind === "weight" && num(m.height_m)) out.push(t("reading.height", { value: formatNumber(m.height_m, 2, 2) }));
    if (m.kind === "vision") out.push(...visionSecondary(m));
    if (m.kind === "glucose") out.push(...glucoseDetails(m));
    if (m.kind === "hearing") out.push(t("audiogram.catch", { alarms: m.false_alarms, trials: m.catch_trials }));
    return out;
  }

  renderFlags(list, flags) {
    clear(list);
    for (const flag of flags) {
      const warn = WARNING_FLAGS.has(flag);
      list.append(el("li", { class: warn ? "flag warn" : "flag", text: tCode("flag", flag, flag), dataset: { flag } }));
    }
    list.hidden = flags.length === 0;
  }

  renderDevice(root, m) {
    const device = role(root, "device");
    const details = [];
    if (m) {
      details.push(t("reading.device", { model: m.model || t("reading.unknown"), id: m.device_id || t("reading.unknown") }));
      if (m.firmware) details.push(t("reading.firmware", { firmware: m.firmware }));
      if (typeof m.battery_percent === "number") details.push(t("reading.battery", { value: formatNumber(m.battery_percent) }));
      const deviceTime = m.device_time ? new Date(m.device_time) : null;
      if (deviceTime && !Number.isNaN(deviceTime.getTime())) details.push(t("reading.device_time", { time: formatDateTime(deviceTime) }));
    }
    device.textContent = details.join(t("reading.separator"));
    device.hidden = details.length === 0;
  }

  renderAge(kind) {
    const root = card(kind);
    const entry = this.latest[kind];
    const received = role(root, "received");
    if (!entry) {
      received.textContent = "";
      root.dataset.stale = "false";
      return;
    }
    const age = performance.now() - entry.mono;
    const stale = entry.staleAfterMs !== null && age > entry.staleAfterMs;
    received.textContent = t("reading.received", { time: formatTime(entry.at), age: formatDuration(age / 1000) });
    if (root.dataset.stale !== String(stale)) root.dataset.stale = String(stale);
  }

  renderCuff() {
    const box = $("cuff");
    const value = $("cuff-pressure");
    const gauge = $("cuff-gauge");
    const active = this.cuff !== null;
    box.hidden = !active;
    box.dataset.active = String(active);
    if (!active) {
      value.textContent = "";
      value.dataset.mmhg = "";
      gauge.setAttribute("aria-valuenow", "0");
      gauge.style.setProperty("--fill", "0");
      return;
    }
    const mmhg = this.cuff.mmhg;
    value.textContent = formatNumber(mmhg);
    value.dataset.mmhg = String(mmhg);
    gauge.setAttribute("aria-valuenow", String(Math.round(mmhg)));
    gauge.setAttribute("aria-valuetext", t("cuff.valuetext", { value: formatNumber(mmhg) }));
    gauge.style.setProperty("--fill", String(Math.min(1, Math.max(0, mmhg / CUFF_MAX_MMHG))));
  }

  addPleth(m, mono, staleAfterMs) {
    const samples = m.value ?? m.samples;
    const p = this.pleth;
    p.capacity = Math.min(4000, Math.max(60, Math.round(m.rate_hz * PLETH_SECONDS)));
    p.samples.push(...samples);
    if (p.samples.length > p.capacity) p.samples.splice(0, p.samples.length - p.capacity);
    p.mono = mono;
    p.staleAfterMs = staleAfterMs ?? 3000;
    p.flags = m.flags ?? [];
    this.canvas.dataset.samples = String(Number(this.canvas.dataset.samples || 0) + samples.length);
    const wrap = $("pleth-wrap");
    wrap.dataset.stale = "false";
    const fingerOut = p.flags.includes("finger_out");
    $("pleth-hint").textContent = fingerOut ? tCode("flag", "finger_out", "") : "";
    this.dirty = true;
    this.scheduleDraw();
  }

  isPlethStale() {
    const p = this.pleth;
    return p.samples.length === 0 || performance.now() - p.mono > p.staleAfterMs;
  }

  sizeCanvas() {
    if (fitCanvas(this.canvas)) {
      this.dirty = true;
      this.scheduleDraw();
    }
  }

  scheduleDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.dirty) this.draw();
    });
  }

  draw() {
    this.dirty = false;
    const canvas = this.canvas;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const { samples, capacity } = this.pleth;
    if (samples.length < 2) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of samples) {
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    const span = hi - lo || 1;
    const pad = canvas.height * 0.1;
    const step = canvas.width / Math.max(1, capacity - 1);
    const x0 = canvas.width - step * (samples.length - 1); // newest sample at the right edge
    const style = getComputedStyle(canvas);
    ctx.strokeStyle = $("pleth-wrap").dataset.stale === "true" ? style.getPropertyValue("--stale-ink") : style.color;
    ctx.lineWidth = Math.max(1.5, (window.devicePixelRatio || 1) * 1.75);
    ctx.lineJoin = "round";
    ctx.beginPath();
    samples.forEach((s, i) => {
      const x = x0 + i * step;
      const y = canvas.height - pad - ((s - lo) / span) * (canvas.height - 2 * pad);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  /** Clear the waveform and its counters (end of consultation). */
  clearCanvas() {
    this.canvas.dataset.samples = "0";
    $("pleth-hint").textContent = "";
    $("pleth-wrap").dataset.stale = "true";
  }
}
