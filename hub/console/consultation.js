// One consultation at a time: its two media legs, the cabin's `control` and `vitals` channels,
// and the panels they feed. Phases: joining (join sent to the hub) -> connecting (an offer came)
// -> active (the cabin said `joined`) -> ending (`end` acknowledged); offline when the hub says
// the station went away. `clear()` drops every trace of the patient.

import { $ } from "/ui/dom.js";
import { has, t } from "/ui/i18n.js";
import { Face } from "./face.js";
import { ExamCamera } from "./examcamera.js";
import { Leg } from "./peer.js";
import { PrescriptionForm } from "./prescription.js";
import { Printing } from "./printing.js";
import { renderQuality } from "./quality.js";
import { Stethoscope } from "./stethoscope.js";
import { controlMessage, vitalsMessage } from "./validate.js";
import { INSTRUMENTS, Vitals } from "./vitals.js";

const JOIN_TIMEOUT_MS = 30000;
const END_TIMEOUT_MS = 15000;
const OFFLINE_RETRY_MS = 2000;
const IDENTITY_FIELDS = ["name", "qualification", "rpps", "address", "phone"];

/** [key, args] for a refusal `code` (translated when the catalogue knows it) with the sender's message. */
export function errorText(code, message) {
  if (has(`error.${code}`)) return [`error.${code}`, { message: message ?? "" }];
  return ["error.generic", { message: message || code }];
}

export class Consultation {
  /**
   * @param {{hubSend: (m: object) => boolean, identity: () => object, iceServers: () => object[], icePolicy: () => string,
   *          notify: (kind: string, key: string, args?: object) => void, onChange: () => void}} env
   */
  constructor(env) {
    this.env = env;
    this.current = null; // {station, session, site, phase, patient, cabinState, since, banner}
    this.quality = { instruments: null, face: null }; // the last getStats() figures per leg
    this.control = null; // the open `control` data channel
    this.onBoard = false; // the GP is in the vehicle with the patient: no face-to-face call (docs/design.md, "On board")
    const send = (type, fields) => this.sendControl(type, fields);
    this.vitals = new Vitals();
    this.face = new Face();
    this.cameras = ["otoscope", "dermatoscope"].map((kind) => new ExamCamera({ kind, send }));
    this.stethoscope = new Stethoscope({ send });
    this.printing = new Printing({ send });
    this.prescription = new PrescriptionForm({ send, latestWeight: () => this.vitals.latestWeight() });
    const signal = (leg) => (payload) => env.hubSend({ type: "signal", station: this.current?.station, leg, ...payload });
    this.legs = {
      instruments: new Leg("instruments", {
        send: signal("instruments"),
        iceServers: env.iceServers,
        icePolicy: env.icePolicy,
        onTrack: (event) => {
          if (event.track.kind === "video") for (const camera of this.cameras) camera.attach(event.track, event.streams);
          else if (event.track.kind === "audio") this.stethoscope.attach(event.track);
        },
        onDataChannel: (channel) => this.onDataChannel(channel),
        onState: () => this.render(),
      }),
      face: new Leg("face", {
        send: signal("face"),
        iceServers: env.iceServers,
        icePolicy: env.icePolicy,
        onTrack: (event) => this.face.attach(event),
        beforeAnswer: (pc) => this.face.prepare(pc),
        onState: () => this.render(),
      }),
    };
    $("end-button").addEventListener("click", () => {
      if (!this.current) return;
      $("end-dialog").returnValue = ""; // Escape keeps the previous value: never let it read "confirm"
      $("end-dialog").showModal();
    });
    $("end-dialog").addEventListener("close", () => this.onEndDialogClosed());
    $("leave-button").addEventListener("click", () => {
      this.clear();
      env.notify("info", "consult.left");
    });
    for (const button of document.querySelectorAll("button.request")) {
      button.addEventListener("click", () => {
        const kind = button.dataset.kind;
        if (this.sendControl("request_measurement", { kind })) this.vitals.onRequest(kind, "sent");
      });
    }
  }

  get active() {
    return this.current !== null;
  }

  /** Take a waiting patient: ask the hub, then wait for the cabin's offers. */
  join(patient) {
    if (this.current) return false;
    if (!this.env.hubSend({ type: "join", station: patient.station, session: patient.session })) {
      this.env.notify("error", "error.hub_unavailable");
      return false;
    }
    this.current = {
      station: patient.station, session: patient.session, site: patient.site, phase: "joining",
      patient: null, cabinState: null, since: performance.now(), banner: { kind: "info", key: "consult.joining" },
    };
    this.vitals.reset();
    this.changed();
    return true;
  }

  /** A new hub connection is a new GP id for the station: ask for the same patient again, naming the legs still
   * up on our side, which go on (docs/design.md, "A fleet of hubs"); on a control channel still open, say so to
   * the cabin too, which answers `joined`. */
  rejoin() {
    const c = this.current;
    if (!c) return;
    const kept = ["face", "instruments"].filter((leg) => this.legs[leg].up);
    this.env.hubSend({ type: "join", station: c.station, session: c.session, ...(kept.length ? { kept } : {}) });
    if (this.control?.readyState === "open") this.controlJoin(this.control);
  }

  /** The cabin of our consultation is connected to the hub again and goes on without us: come back to it. */
  onStationBack(station) {
    if (this.current?.station === station) this.rejoin();
  }

  /** Join the consultation on the cabin's control channel, as the GP the hub knows. */
  controlJoin(channel) {
    const identity = this.env.identity() ?? {};
    const gp = {};
    for (const field of IDENTITY_FIELDS) if (typeof identity[field] === "string") gp[field] = identity[field];
    channel.send(JSON.stringify({ v: 1, type: "join", session: this.current.session, gp }));
  }

  /** Drop every trace of the patient: connections, streams, readings, images, forms; tell the hub we left. */
  clear() {
    const had = this.current;
    // After station_offline the hub has already released us, after a refused join it never took us:
    // a leave would only be refused.
    if (had && had.phase !== "offline" && had.phase !== "refused") this.env.hubSend({ type: "leave", station: had.station });
    this.current = null;
    this.control = null;
    this.legs.instruments.close();
    this.legs.face.close();
    this.face.reset();
    for (const camera of this.cameras) camera.reset();
    this.stethoscope.reset();
    this.vitals.reset();
    this.prescription.reset();
    this.printing.reset();
    if ($("end-dialog").open) $("end-dialog").close("cancel");
    this.changed();
  }

  sendControl(type, fields = {}) {
    const channel = this.control;
    if (!this.current || channel?.readyState !== "open") {
      this.env.notify("error", "error.control_unavailable");
      return false;
    }
    channel.send(JSON.stringify({ v: 1, type, ...fields }));
    return true;
  }

  setPhase(phase, banner) {
    if (!this.current) return;
    this.current.phase = phase;
    this.current.since = performance.now();
    this.current.banner = banner;
    this.render();
  }

  changed() {
    this.render();
    this.env.onChange();
  }

  // ---------- from the hub ----------

  onSignal(m) {
    const c = this.current;
    if (!c || c.station !== m.station) {
      console.warn("console: signal from a station not in consultation, ignored", m.station);
      return;
    }
    if (m.leg === "face" && this.onBoard) {
      console.warn("console: a face-to-face offer on board, ignored: the camera and microphone stay off");
      return;
    }
    const leg = this.legs[m.leg];
    if (m.candidate) {
      leg.addCandidate(m.candidate);
      return;
    }
    if (m.description.type !== "offer") {
      console.warn("console: the cabin sent an answer; it should offer", m.leg);
      return;
    }
    if (c.phase === "joining" || c.phase === "offline") this.setPhase("connecting", null);
    if (m.leg === "instruments") {
      this.control = null; // the new connection brings its own channels
      this.prescription.unblock();
      for (const camera of this.cameras) camera.detach();
      this.stethoscope.detach();
    } else {
      this.face.detach();
    }
    leg.acceptOffer(m.description).catch((error) => {
      console.warn(`console: could not answer the ${m.leg} offer`, error);
      this.env.notify("error", "error.negotiation", { leg: t(`leg.${m.leg}`) });
    });
  }

  /** The cabin's hub connection dropped: the legs still up go on (media never crosses the hub), the others close;
   * we ask to come back until the cabin is back. */
  onStationOffline(station) {
    if (this.current?.station !== station) return;
    if (!this.legs.instruments.up) {
      this.legs.instruments.close();
      for (const camera of this.cameras) camera.detach();
      this.stethoscope.detach();
      this.control = null;
    }
    if (!this.legs.face.up) {
      this.legs.face.close();
      this.face.detach();
    }
    this.setPhase("offline", { kind: "warning", key: "consult.offline" });
  }

  /** The hub refused something: a join that failed ends the attempt. True when the GP need not hear of it. */
  onHubError(code) {
    const phase = this.current?.phase;
    if (phase === "joining") {
      // The join was refused (taken, claimed...): there is nothing to leave, and the hub's refusal of a
      // leave would hide the reason from the GP.
      this.current.phase = "refused";
      this.clear();
    }
    if (phase && phase !== "joining" && (code === "not_waiting" || code === "not_yours")) {
      // Coming back to a consultation that ended meanwhile (or to a cabin no longer ours): it is over.
      this.current.phase = "refused";
      this.clear();
      return false;
    }
    if (phase && phase !== "joining" && (phase === "offline" || code === "offline" || code === "already_joined"
        || code === "not_joined")) {
      // Coming back to a cabin not back on the hub yet, or that already took us back, and our signals meanwhile:
      // not news (the cabin says `station_back` once it is there).
      console.warn("console: the hub refused while coming back to the cabin", code);
      return true;
    }
    return false;
  }

  // ---------- the cabin's data channels ----------

  onDataChannel(channel) {
    if (channel.label === "control") {
      const opened = () => {
        if (!this.current) return;
        this.control = channel;
        this.controlJoin(channel);
        this.render();
      };
      if (channel.readyState === "open") opened();
      else channel.addEventListener("open", opened);
      channel.addEventListener("message", (event) => this.guard(() => this.onControl(event.data)));
      channel.addEventListener("close", () => {
        if (this.control === channel) {
          this.control = null;
          this.render();
        }
      });
    } else if (channel.label === "vitals") {
      channel.addEventListener("message", (event) => this.guard(() => this.onVitals(event.data)));
    } else {
      console.warn("console: unexpected data channel, ignored", channel.label);
    }
  }

  guard(fn) {
    try {
      fn();
    } catch (error) {
      console.warn("console: handling a cabin message failed", error);
    }
  }

  sameSession(m) {
    if (!this.current) return false;
    if (m.session !== undefined && m.session !== null && m.session !== this.current.session) {
      console.warn("console: message for another session, ignored", m.type);
      return false;
    }
    return true;
  }

  onControl(text) {
    const m = controlMessage(text);
    if (!m || !this.sameSession(m)) return;
    const c = this.current;
    switch (m.type) {
      case "reading":
      case "guidance":
      case "snapshot":
        this.onVitalsMessage(m);
        break;
      case "joined":
        c.patient = m.patient ?? c.patient ?? null;
        if (c.phase !== "ending") this.setPhase("active", null);
        break;
      case "ack":
        this.onAck(m);
        break;
      case "error":
        this.onCabinError(m);
        break;
      case "state":
        c.cabinState = m.state;
        this.render();
        break;
      case "print_status":
        this.printing.onStatus(m);
        break;
      case "ended":
        this.clear();
        this.env.notify("info", "consult.ended");
        break;
      case "notice":
        this.onCabinNotice(m);
        break;
      default:
        break;
    }
  }

  onAck(m) {
    switch (m.ref) {
      case "request_measurement":
        this.vitals.onRequest(m.kind, "acknowledged");
        break;
      case "prescribe":
        this.prescription.onAck(m);
        break;
      case "camera":
      case "otoscope":
        this.camera(m).onAck(m);
        this.switched(m.camera ?? "otoscope", m.on);
        break;
      case "snapshot":
        this.switched(m.camera ?? "otoscope", true); // a snapshot switches its camera on
        break;
      case "stethoscope":
      case "auscultate":
        this.stethoscope.onAck(m);
        break;
      case "end":
        // The cabin took it: it prints and sees the patient out, then says `ended`. Meanwhile the
        // GP may still follow the printing and reprint.
        this.current.endAcked = true;
        this.setPhase("ending", { kind: "info", key: "consult.wrapping_up" });
        break;
      default:
        break;
    }
  }

  onCabinError(m) {
    const [key, args] = errorText(m.code, m.message);
    if (!this.prescription.onError(key, args, m)) this.env.notify("error", key, args);
    for (const camera of this.cameras) camera.onError();
    this.stethoscope.onError();
    this.printing.onError();
    const phase = this.current.phase;
    if (phase === "ending" && !this.current.endAcked) this.setPhase("active", null);
    else if (phase === "connecting") this.setPhase("connecting", { kind: "warning", key, args });
  }

  onCabinNotice(m) {
    if (m.event === "instrument_unavailable" && INSTRUMENTS.includes(m.kind)) this.vitals.onRequest(m.kind, "unavailable");
    else if (m.event === "measurement_requested" && INSTRUMENTS.includes(m.kind)) this.vitals.onRequest(m.kind, "acknowledged");
    else if (typeof m.event === "string" && has(`notice.${m.event}`)) this.env.notify("info", `notice.${m.event}`);
  }

  onVitals(text) {
    const m = vitalsMessage(text);
    if (m && this.sameSession(m)) this.onVitalsMessage(m);
  }

  onVitalsMessage(m) {
    if (m.type === "reading") {
      this.vitals.onReading(m);
      if (m.measurement.kind === "weight") this.prescription.render();
    } else if (m.type === "guidance") {
      this.switched(m.camera ?? "otoscope", true); // only the camera that is on gives guidance
      this.camera(m).onGuidance(m);
    } else if (m.type === "snapshot") {
      this.camera(m).onSnapshotChunk(m);
    }
  }

  /** The panel of the camera a message names (a station older than the dermatoscope names none: the otoscope). */
  camera(m) {
    return this.cameras.find((c) => c.kind === (m.camera ?? "otoscope")) ?? this.cameras[0];
  }

  /** The cabin switched `kind` on or off: one camera on at a time, every panel follows. */
  switched(kind, on) {
    if (typeof on === "boolean") for (const camera of this.cameras) camera.onSwitched(kind, on);
  }

  onEndDialogClosed() {
    if ($("end-dialog").returnValue !== "confirm" || !this.current) return;
    if (this.control?.readyState === "open") {
      this.sendControl("end");
      this.setPhase("ending", { kind: "info", key: "consult.ending" });
    } else {
      // No control channel: nothing can reach the cabin; the consultation ends on our side.
      this.clear();
      this.env.notify("info", "consult.left");
    }
  }

  // ---------- time ----------

  /** Once a second: staleness, and the cabin's silence after a join or an end. */
  tick() {
    this.vitals.tick();
    const c = this.current;
    if (!c) return;
    const elapsed = performance.now() - c.since;
    if (c.phase === "offline" && performance.now() - (c.retried ?? c.since) > OFFLINE_RETRY_MS) {
      // The hub released us when the station dropped: ask again until the cabin is back
      // (the hub lets the same GP resume a consultation in its reconnect grace).
      c.retried = performance.now();
      this.rejoin();
    }
    if (c.phase === "joining" && elapsed > JOIN_TIMEOUT_MS && c.banner?.key !== "consult.join_timeout") {
      c.banner = { kind: "warning", key: "consult.join_timeout" };
      this.render();
    } else if (c.phase === "ending" && !c.endAcked && elapsed > END_TIMEOUT_MS && c.banner?.key !== "consult.end_timeout") {
      c.banner = { kind: "warning", key: "consult.end_timeout" };
      this.render();
    }
  }

  /** Every two seconds: the connection quality badges. */
  async sampleQuality() {
    for (const name of ["instruments", "face"]) {
      try {
        this.quality[name] = await this.legs[name].quality();
        renderQuality($(`quality-${name}`), name, this.quality[name]);
      } catch (error) {
        console.warn("console: getStats failed", name, error);
      }
    }
  }

  // ---------- rendering ----------

  /** Everything, e.g. after a language change. */
  renderAll() {
    this.render();
    this.vitals.render();
    for (const camera of this.cameras) camera.render();
    this.stethoscope.render();
    this.face.render();
    this.printing.render();
    this.prescription.render();
  }

  render() {
    const c = this.current;
    const root = $("consultation");
    root.dataset.state = c ? c.phase : "idle";
    root.dataset.session = c?.session ?? "";
    root.dataset.station = c?.station ?? "";
    document.body.dataset.consultation = c ? c.phase : "idle";
    $("consultation-idle").hidden = Boolean(c);
    $("consultation-active").hidden = !c;
    const controlOpen = Boolean(c) && this.control?.readyState === "open";
    for (const button of document.querySelectorAll("button.request")) button.disabled = !controlOpen;
    for (const camera of this.cameras) camera.setEnabled(controlOpen);
    this.stethoscope.setEnabled(controlOpen);
    this.prescription.setEnabled(controlOpen);
    if (!c) {
      for (const id of ["patient-name", "patient-details", "consult-site", "cabin-state"]) $(id).textContent = "";
      $("cabin-state").dataset.state = "";
      this.renderBanner(null);
      this.quality = { instruments: null, face: null };
    }
    renderQuality($("quality-face"), "face", this.quality.face);
    renderQuality($("quality-instruments"), "instruments", this.quality.instruments);
    if (!c) return;
    const p = c.patient;
    $("patient-name").textContent = p?.name ?? t("consult.patient_pending");
    const details = [];
    if (p && typeof p.age === "number") details.push(t("patient.age", { age: p.age }));
    if (p && typeof p.birth_year === "number") details.push(t("patient.born", { year: p.birth_year }));
    if (p?.sex) details.push(has(`sex.${p.sex}`) ? t(`sex.${p.sex}`) : p.sex);
    $("patient-details").textContent = details.join(t("reading.separator"));
    $("consult-site").textContent = t("consult.site", { site: c.site });
    const cabin = $("cabin-state");
    cabin.dataset.state = c.cabinState ?? "";
    const known = c.cabinState && has(`state.${c.cabinState}`);
    cabin.textContent = known ? t(`state.${c.cabinState}`) : c.cabinState || t(`phase.${c.phase}`);
    $("end-button").disabled = c.phase === "ending";
    $("leave-button").hidden = c.phase === "active";
    this.renderBanner(c.banner);
  }

  renderBanner(banner) {
    const el = $("consult-banner");
    el.hidden = !banner;
    el.dataset.kind = banner?.kind ?? "";
    el.textContent = banner ? t(banner.key, banner.args) : "";
  }
}
