// An examination camera's panel (the otoscope's, the dermatoscope's: one class, parametrised by
// kind): live video from the instruments leg while this camera is the one on, on/off, the
// patient's guidance (too dark, glare, hold still...) with focus, brightness and glare, and
// snapshots reassembled from chunks. The cabin has one camera on at a time (docs/design.md,
// "Examination cameras"): switching one on switches the other off, and its panel follows.

import { $, clear, el, resetVideo } from "/ui/dom.js";
import { applyStatic, formatNumber, formatTime, t, tCode } from "/ui/i18n.js";

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

/** The panel of camera `kind`, from the page's one template: `KIND` in its attributes stands for the kind. */
function buildPanel(kind) {
  const panel = $("camera-panel-template").content.firstElementChild.cloneNode(true);
  for (const node of [panel, ...panel.querySelectorAll("*")]) {
    for (const attr of node.attributes) attr.value = attr.value.replaceAll("KIND", kind);
  }
  panel.querySelector("video").dataset.i18nAttr = `aria-label=camera.${kind}.video`;
  panel.querySelector(".snapshot-list").dataset.i18nAttr = `aria-label=camera.${kind}.snapshots`;
  applyStatic(panel);
  $("cameras").append(panel);
}

export class ExamCamera {
  /** @param {{kind: "otoscope"|"dermatoscope", send: (type: string, fields: object) => boolean}} options */
  constructor({ kind, send }) {
    this.kind = kind;
    this.send = send;
    buildPanel(kind);
    this.video = this.$("video");
    this.$("toggle").addEventListener("click", () => this.toggle());
    this.$("snapshot-button").addEventListener("click", () => this.requestSnapshot());
    this.stream = null;
    this.snapshots = [];
    this.enabled = false;
    this.reset();
  }

  /** This panel's element `${kind}-${name}`. */
  $(name) {
    return $(`${this.kind}-${name}`);
  }

  /** Forget everything of the consultation: stream, snapshots (object URLs revoked), guidance. */
  reset() {
    resetVideo(this.video);
    this.track = null;
    this.stream = null;
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

  /** The instruments leg delivered its one video track: every camera's, shown while this one is on. */
  attach(track, streams) {
    this.stream = streams?.[0] ?? new MediaStream([track]);
    track.addEventListener("unmute", () => this.render());
    track.addEventListener("mute", () => this.render());
    this.track = track;
    this.render();
  }

  /** The instruments leg was replaced or closed. */
  detach() {
    this.track = null;
    this.stream = null;
    this.render();
  }

  /** The cabin switched `kind` on or off (an ack, or guidance from a camera that is on). */
  onSwitched(kind, on) {
    if (kind === this.kind) this.on = on;
    else if (on) this.on = false; // one camera on at a time: the other went off
    this.render();
  }

  // The otoscope's messages are those every station knows (protocol/control.py keeps them); the
  // dermatoscope's name their camera.
  toggle() {
    const desired = !(this.pending ?? this.on ?? false);
    const sent = this.kind === "otoscope" ? this.send("otoscope", { on: desired })
      : this.send("camera", { camera: this.kind, on: desired });
    if (sent) {
      this.pending = desired;
      this.expire("pending", null, 10000);
      this.render();
    }
  }

  requestSnapshot() {
    if (this.send("snapshot", this.kind === "otoscope" ? {} : { camera: this.kind })) {
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

  /** The `ack` of this camera's switch (the other panels hear `onSwitched`). */
  onAck(message) {
    this.on = typeof message.on === "boolean" ? message.on : this.pending ?? this.on;
    this.pending = null;
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
    this.on = true; // only a camera that is on gives guidance
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
    const toggle = this.$("toggle");
    toggle.disabled = !this.enabled || this.pending !== null;
    this.$("snapshot-button").disabled = !this.enabled || this.shotPending;
    const shown = this.pending ?? this.on;
    toggle.dataset.state = this.pending !== null ? "pending" : this.on === null ? "unknown" : this.on ? "on" : "off";
    toggle.textContent = t(shown ? `camera.${this.kind}.turn_off` : `camera.${this.kind}.turn_on`);
    this.$("snapshot-button").dataset.pending = String(this.shotPending);
    this.$("snapshot-status").textContent = this.shotPending ? t(`camera.${this.kind}.snapshot_pending`) : "";
    this.renderVideo();
    this.renderGuidance();
    this.renderSnapshots();
  }

  /** The track plays in this panel only while this camera is the one on. */
  renderVideo() {
    const stream = this.on ? this.stream : null;
    if (this.video.srcObject !== stream) {
      this.video.srcObject = stream;
      if (stream) this.video.play?.().catch(() => {}); // muted: autoplay is allowed; the catch covers a replaced source
    }
    const live = Boolean(stream && this.track && !this.track.muted && this.track.readyState === "live");
    this.$("empty").hidden = live;
    this.video.dataset.live = String(live);
  }

  renderGuidance() {
    const g = this.guidance;
    const box = this.$("guidance");
    box.hidden = !g;
    if (!g) return;
    box.dataset.advice = g.advice ?? "";
    this.$("guidance-advice").textContent = g.advice ? tCode("guidance", g.advice, g.advice) : "";
    this.$("guidance-focus").textContent =
      typeof g.focus === "number" ? t("camera.focus", { value: formatNumber(g.focus) }) : "";
    this.$("guidance-brightness").textContent =
      typeof g.brightness === "number" ? t("camera.brightness", { value: formatNumber(g.brightness) }) : "";
    this.$("guidance-glare").textContent =
      typeof g.glare === "number" ? t("camera.glare", { value: formatNumber(g.glare * 100, 1) }) : "";
  }

  renderSnapshots() {
    const main = this.$("snapshot-image");
    const list = this.$("snapshot-list");
    clear(list);
    const selected = this.selected;
    this.$("snapshot-view").hidden = !selected;
    if (selected) {
      main.src = selected.url;
      main.alt = t(`camera.${this.kind}.snapshot_alt`, { n: this.snapshots.indexOf(selected) + 1, time: formatTime(selected.at) });
      main.dataset.id = selected.id;
    } else {
      main.removeAttribute("src");
      main.alt = "";
      delete main.dataset.id;
    }
    this.$("snapshot-view").dataset.count = String(this.snapshots.length);
    this.snapshots.forEach((shot, i) => {
      const label = t(`camera.${this.kind}.snapshot_alt`, { n: i + 1, time: formatTime(shot.at) });
      const button = el("button", {
        type: "button",
        class: "thumb",
        "aria-label": label,
        "aria-pressed": String(shot === selected),
        "data-testid": `${this.kind}-snapshot-thumb`,
      }, [el("img", { src: shot.url, alt: "" })]);
      button.addEventListener("click", () => {
        this.selected = shot;
        this.renderSnapshots();
      });
      list.append(el("li", {}, [button]));
    });
  }
}
