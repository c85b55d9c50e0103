// The stethoscope panel (docs/design.md, "The stethoscope: the GP's side"): on/off as the cabin
// acknowledges it, heart or lung filtering, volume, the live drawing, recordings of a few seconds
// (WAV, playable and downloadable) and the auscultation points the patient is guided to.

import { $, clear, el } from "/ui/dom.js";
import { formatTime, t } from "/ui/i18n.js";
import { MODES, StethAudio } from "./stethoscope-audio.js";
import { wavBlob } from "./wav.js";

const POINTS = {
  heart: ["aortic", "pulmonary", "tricuspid", "mitral"], // on the chest
  lung: ["lung_upper_left", "lung_upper_right", "lung_lower_left", "lung_lower_right"], // on the back
};
const RECORD_SECONDS = 10;
const PENDING_MS = 10000;

export class Stethoscope {
  constructor({ send }) {
    this.send = send;
    this.element = $("stethoscope-panel");
    this.player = $("steth-audio");
    this.audio = new StethAudio($("steth-canvas"), { onSamples: (raw, rate) => this.onSamples(raw, rate) });
    $("steth-toggle").addEventListener("click", () => this.toggle());
    $("steth-record").addEventListener("click", () => this.startRecording());
    $("steth-volume").addEventListener("input", (event) => this.audio.setVolume(Number(event.target.value)));
    for (const button of this.element.querySelectorAll("[data-mode]")) {
      button.addEventListener("click", () => this.setMode(button.dataset.mode));
    }
    for (const button of this.element.querySelectorAll("[data-point]")) {
      button.addEventListener("click", () => this.auscultate(button.dataset.point));
    }
    this.recordings = [];
    this.enabled = false;
    this.reset();
  }

  /** Forget everything of the consultation: sound, drawing, point, recordings (object URLs revoked). */
  reset() {
    this.audio.stop();
    this.recording = null;
    this.player.srcObject = null;
    this.track = null;
    this.on = null; // unknown until the cabin says
    this.pending = null;
    this.point = null;
    this.pointPending = null;
    for (const recording of this.recordings) URL.revokeObjectURL(recording.url);
    this.recordings = [];
    this.setMode("heart");
  }

  /** The instruments leg delivered the stethoscope's audio track. */
  attach(track) {
    // Chromium long fed a remote WebRTC track into Web Audio only while a media element played it
    // too (docs/design.md, "The stethoscope: the GP's side"): the muted <audio> does; the GP hears
    // the AudioContext.
    this.player.srcObject = new MediaStream([track]);
    this.player.play?.().catch(() => {});
    this.track = track;
    this.listen();
  }

  /** The instruments leg was replaced or closed. */
  detach() {
    this.track = null;
    this.player.srcObject = null;
    this.listen();
  }

  /** Hear and draw while the cabin says the stethoscope is on and its track is here. */
  listen() {
    const live = Boolean(this.on && this.track);
    if (live && !this.audio.running) {
      this.audio.start(this.track).then(() => this.render(), (error) => console.warn("console: the stethoscope cannot play", error));
    } else if (!live) {
      this.audio.stop();
      this.finishRecording();
    }
    this.render();
  }

  toggle() {
    const desired = !(this.pending ?? this.on ?? false);
    this.audio.unlock().catch((error) => console.warn("console: the stethoscope's audio did not load", error));
    if (this.send("stethoscope", { on: desired })) {
      this.pending = desired;
      this.expire("pending");
      this.render();
    }
  }

  auscultate(point) {
    if (this.send("auscultate", { point })) {
      this.pointPending = point;
      this.expire("pointPending");
      this.render();
    }
  }

  /** Give up waiting on `field` (the cabin never answered): the buttons work again. */
  expire(field) {
    const token = Symbol(field);
    this[`${field}Token`] = token;
    setTimeout(() => {
      if (this[`${field}Token`] === token && this[field] !== null) {
        this[field] = null;
        this.render();
      }
    }, PENDING_MS);
  }

  setMode(mode) {
    if (!MODES.includes(mode)) return;
    this.mode = mode;
    this.audio.setMode(mode);
    this.render();
  }

  /** An `ack` for `stethoscope` or `auscultate`. */
  onAck(message) {
    if (message.ref === "stethoscope") {
      this.on = typeof message.on === "boolean" ? message.on : this.pending ?? this.on;
      this.pending = null;
      this.listen();
    } else if (message.ref === "auscultate") {
      this.point = Object.values(POINTS).flat().includes(message.point) ? message.point : this.pointPending;
      this.pointPending = null;
      this.render();
    }
  }

  /** A control `error`: whatever was pending did not happen. */
  onError() {
    this.pending = null;
    this.pointPending = null;
    this.render();
  }

  /** The buttons need an open control channel. */
  setEnabled(enabled) {
    if (this.enabled === enabled) return;
    this.enabled = enabled;
    this.render();
  }

  // ---------- recordings ----------

  startRecording() {
    if (!this.audio.running || this.recording) return;
    this.recording = { chunks: [], samples: 0, rate: 0, mode: this.mode, at: new Date() };
    this.render();
  }

  onSamples(raw, rate) {
    const r = this.recording;
    if (!r) return;
    r.rate = rate;
    r.chunks.push(raw);
    r.samples += raw.length;
    const left = Math.ceil(RECORD_SECONDS - r.samples / rate);
    if (left !== r.left) {
      r.left = left;
      this.renderRecordStatus();
    }
    if (r.samples >= RECORD_SECONDS * rate) this.finishRecording();
  }

  /** Keep what was recorded (cut short when the stethoscope went off). */
  finishRecording() {
    const r = this.recording;
    this.recording = null;
    if (!r || r.samples === 0) return;
    const url = URL.createObjectURL(wavBlob(r.chunks, r.rate));
    this.recordings.push({ url, at: r.at, mode: r.mode, seconds: Math.round(r.samples / r.rate) });
    this.render();
  }

  // ---------- rendering ----------

  state() {
    if (this.pending !== null) return "pending";
    if (this.on === null) return "unknown";
    return this.on ? "on" : "off";
  }

  render() {
    const state = this.state();
    const live = this.audio.running;
    this.element.dataset.state = state;
    this.element.dataset.live = String(live);
    this.element.dataset.mode = this.mode;
    this.element.dataset.point = this.point ?? "";
    const toggle = $("steth-toggle");
    toggle.disabled = !this.enabled || this.pending !== null;
    toggle.dataset.state = state;
    toggle.textContent = t((this.pending ?? this.on) ? "steth.turn_off" : "steth.turn_on");
    $("steth-status").textContent = t(`steth.state.${state}`);
    $("steth-empty").hidden = live;
    $("steth-record").disabled = !live || this.recording !== null;
    for (const button of this.element.querySelectorAll("[data-mode]")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === this.mode));
    }
    this.renderPoints();
    this.renderRecordStatus();
    this.renderRecordings();
  }

  renderPoints() {
    $("steth-torso").dataset.view = this.mode === "heart" ? "front" : "back";
    for (const button of this.element.querySelectorAll("[data-point]")) {
      const point = button.dataset.point;
      button.hidden = !POINTS[this.mode].includes(point);
      button.disabled = !this.enabled || this.pointPending !== null;
      button.setAttribute("aria-pressed", String(point === this.point));
      button.dataset.pending = String(point === this.pointPending);
      button.title = t(`steth.point.${point}`);
      button.setAttribute("aria-label", t(`steth.point.${point}`));
    }
    $("steth-point").textContent = this.point ? t("steth.current_point", { point: t(`steth.point.${this.point}`) }) : "";
  }

  renderRecordStatus() {
    const r = this.recording;
    $("steth-record-status").textContent = r ? t("steth.recording", { seconds: r.left ?? RECORD_SECONDS }) : "";
  }

  renderRecordings() {
    const list = $("steth-recordings");
    clear(list);
    list.dataset.count = String(this.recordings.length);
    this.recordings.forEach((recording, i) => {
      const label = t("steth.recording_label", {
        n: i + 1, time: formatTime(recording.at), mode: t(`steth.mode.${recording.mode}`), seconds: recording.seconds,
      });
      const stamp = recording.at.toTimeString().slice(0, 8).replaceAll(":", "");
      list.append(el("li", { "data-testid": "steth-recording" }, [
        el("span", { text: label }),
        el("audio", { controls: true, preload: "metadata", src: recording.url, "aria-label": label }),
        el("a", { href: recording.url, download: `stethoscope-${stamp}.wav`, text: t("steth.download") }),
      ]));
    });
  }
}
