// The otoscope panel: live video from the instruments leg, on/off, the patient's guidance
// (too dark, hold still...) with focus and brightness, and snapshots reassembled from chunks.

import { $, clear, el, resetVideo } from "/ui/dom.js";
import { formatNumber, formatTime, t, tCode } from "/ui/i18n.js";

const MIMES = new Set(["image/jpeg", "image/png", "image/webp"]);
const MAX_PENDING = 4;
const MAX_BASE64_CHARS = 16 * 1024 * 1024;
const ASSEMBLY_TIMEOUT_MS = 60000;

function decode(parts) {
  // The station may cut the base64 text anywhere (then only the whole decodes) or encode each
  // byte slice on its own (then each piece carries its own padding): handle both.
  const padded = parts.slice(0, -1).some((p) => p.includes("="));
  const pieces = padded ? parts : [parts.join("")];
  const arrays = pieces.map((piece) => {
    const binary = atob(piece.replace(/\s+/g, ""));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  });
  return arrays;
}

export class Otoscope {
  constructor({ send }) {
    this.send = send;
    this.video = $("otoscope-video");
    $("otoscope-toggle").addEventListener("click", () => this.toggle());
    $("snapshot-button").addEventListener("click", () => this.requestSnapshot());
    this.snapshots = [];
    this.enabled = false;
    this.reset();
  }

  /** Forget everything of the consultation: stream, snapshots (object URLs revoked), guidance. */
  reset() {
    resetVideo(this.video);
    this.track = null;
    this.on = null; // unknown until the cabin says or frames arrive
    this.pending = null;
    this.guidance = null;
    this.assemblies = new Map();
    for (const shot of this.snapshots) URL.revokeObjectURL(shot.url);
    this.snapshots = [];
    this.selected = null;
    this.shotPending = false;
    this.render();
  }

  /** The instruments leg delivered the otoscope track. */
  attach(track, streams) {
    this.video.srcObject = streams?.[0] ?? new MediaStream([track]);
    this.video.play?.().catch(() => {}); // muted: autoplay is allowed; the catch covers a replaced source
    track.addEventListener("unmute", () => this.render());
    track.addEventListener("mute", () => this.render());
    this.track = track;
    this.render();
  }

  /** The instruments leg was replaced or closed. */
  detach() {
    this.track = null;
    this.video.srcObject = null;
    this.render();
  }

  toggle() {
    const desired = !(this.pending ?? this.on ?? false);
    if (this.send("otoscope", { on: desired })) {
      this.pending = desired;
      this.expire("pending", null, 10000);
      this.render();
    }
  }

  requestSnapshot() {
    if (this.send("snapshot", {})) {
      this.shotPending = true;
      this.expire("shotPending", false, 30000);
      this.render();
    }
  }

  /** Give up waiting on `field` after `ms` (the cabin never answered): the button works again. */
  expire(field, idle, ms) {
    const token = Symbol(field);
    this[`${field}Token`] = token;
    setTimeout(() => {
      if (this[`${field}Token`] === token && this[field] !== idle) {
        this[field] = idle;
        this.render();
      }
    }, ms);
  }

  /** An `ack` from the control channel. */
  onAck(message) {
    if (message.ref === "otoscope") {
      this.on = typeof message.on === "boolean" ? message.on : this.pending ?? this.on;
      this.pending = null;
    }
    this.render();
  }

  /** A control `error`: whatever was pending did not happen. */
  onError() {
    this.pending = null;
    this.shotPending = false;
    this.render();
  }

  onGuidance(message) {
    this.guidance = message;
    this.render();
  }

  onSnapshotChunk(m) {
    const now = performance.now();
    for (const [id, a] of this.assemblies) {
      if (now - a.started > ASSEMBLY_TIMEOUT_MS) this.assemblies.delete(id);
    }
    let a = this.assemblies.get(m.id);
    if (!a) {
      if (this.assemblies.size >= MAX_PENDING) {
        console.warn("console: too many snapshots in flight, ignored", m.id);
        return;
      }
      const mime = MIMES.has(m.mime) ? m.mime : "image/jpeg";
      a = { count: m.count, mime, parts: new Array(m.count), received: 0, chars: 0, started: now };
      this.assemblies.set(m.id, a);
    }
    if (m.count !== a.count || a.parts[m.index] !== undefined) {
      console.warn("console: snapshot chunk does not fit its image, ignored", m.id, m.index);
      return;
    }
    a.chars += m.data.length;
    if (a.chars > MAX_BASE64_CHARS) {
      console.warn("console: snapshot too large, dropped", m.id);
      this.assemblies.delete(m.id);
      return;
    }
    a.parts[m.index] = m.data;
    a.received += 1;
    if (a.received < a.count) return;
    this.assemblies.delete(m.id);
    let blob;
    try {
      blob = new Blob(decode(a.parts), { type: a.mime });
    } catch (error) {
      console.warn("console: snapshot is not valid base64, dropped", m.id, error);
      return;
    }
    const shot = { id: m.id, url: URL.createObjectURL(blob), at: new Date(), size: blob.size };
    this.snapshots.push(shot);
    this.selected = shot;
    this.shotPending = false;
    this.render();
  }

  /** The buttons need an open control channel. */
  setEnabled(enabled) {
    if (this.enabled === enabled) return;
    this.enabled = enabled;
    this.render();
  }

  render() {
    const toggle = $("otoscope-toggle");
    toggle.disabled = !this.enabled || this.pending !== null;
    $("snapshot-button").disabled = !this.enabled || this.shotPending;
    const shown = this.pending ?? this.on;
    toggle.dataset.state = this.pending !== null ? "pending" : this.on === null ? "unknown" : this.on ? "on" : "off";
    toggle.textContent = t(shown ? "otoscope.turn_off" : "otoscope.turn_on");
    $("snapshot-button").dataset.pending = String(this.shotPending);
    $("snapshot-status").textContent = this.shotPending ? t("otoscope.snapshot_pending") : "";
    const live = Boolean(this.track && !this.track.muted && this.track.readyState === "live");
    $("otoscope-empty").hidden = live;
    this.video.dataset.live = String(live);
    this.renderGuidance();
    this.renderSnapshots();
  }

  renderGuidance() {
    const g = this.guidance;
    const box = $("otoscope-guidance");
    box.hidden = !g;
    if (!g) return;
    box.dataset.advice = g.advice ?? "";
    $("guidance-advice").textContent = g.advice ? tCode("guidance", g.advice, g.advice) : "";
    $("guidance-focus").textContent = typeof g.focus === "number" ? t("otoscope.focus", { value: formatNumber(g.focus) }) : "";
    $("guidance-brightness").textContent =
      typeof g.brightness === "number" ? t("otoscope.brightness", { value: formatNumber(g.brightness) }) : "";
  }

  renderSnapshots() {
    const main = $("snapshot-image");
    const list = $("snapshot-list");
    clear(list);
    const selected = this.selected;
    $("snapshot-view").hidden = !selected;
    if (selected) {
      main.src = selected.url;
      main.alt = t("otoscope.snapshot_alt", { n: this.snapshots.indexOf(selected) + 1, time: formatTime(selected.at) });
      main.dataset.id = selected.id;
    } else {
      main.removeAttribute("src");
      main.alt = "";
      delete main.dataset.id;
    }
    $("snapshot-view").dataset.count = String(this.snapshots.length);
    this.snapshots.forEach((shot, i) => {
      const label = t("otoscope.snapshot_alt", { n: i + 1, time: formatTime(shot.at) });
      const button = el("button", {
        type: "button",
        class: "thumb",
        "aria-label": label,
        "aria-pressed": String(shot === selected),
        "data-testid": "snapshot-thumb",
      }, [el("img", { src: shot.url, alt: "" })]);
      button.addEventListener("click", () => {
        this.selected = shot;
        this.renderSnapshots();
      });
      list.append(el("li", {}, [button]));
    });
  }
}
