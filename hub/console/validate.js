// Shape checks for what the hub and the cabin send. A message that fails is dropped with a
// console warning (never thrown): the console must keep working on anything it receives.
// The shapes follow protocol/hub.py, protocol/control.py and devices/measurements.py.

import { isVisionValue } from "./vision.js";

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
export const isString = (x, max = 1000) => typeof x === "string" && x.length <= max;
export const isNumber = (x) => typeof x === "number" && Number.isFinite(x);
export const isId = (x) => typeof x === "string" && ID.test(x);
const optional = (check) => (x) => x === undefined || x === null || check(x);
const optString = optional((x) => isString(x));
const optNumber = optional(isNumber);

/** JSON text to an object with v == 1 and a string type, or null with a warning. */
export function parseEnvelope(text, source) {
  if (typeof text !== "string" || text.length > 512 * 1024) {
    console.warn(`console: ignored a ${source} message that is not text or too large`);
    return null;
  }
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    console.warn(`console: ignored a ${source} message that is not JSON`);
    return null;
  }
  if (!isObject(message) || message.v !== 1 || !isString(message.type, 64)) {
    console.warn(`console: ignored a ${source} message without v:1 and a type`, message);
    return null;
  }
  return message;
}

function check(message, source, rules) {
  const rule = rules[message.type];
  if (!rule) {
    console.warn(`console: ignored an unknown ${source} message type`, message.type);
    return null;
  }
  if (!rule(message)) {
    console.warn(`console: ignored an invalid ${source} '${message.type}' message`, message);
    return null;
  }
  return message;
}

const isIceServer = (s) =>
  isObject(s) && (isString(s.urls) || (Array.isArray(s.urls) && s.urls.every((u) => isString(u))));

const isDescription = (d) => isObject(d) && (d.type === "offer" || d.type === "answer") && isString(d.sdp, 256 * 1024) && d.sdp.length > 0;

const isCandidate = (c) =>
  isObject(c) && isString(c.candidate, 2048) && optString(c.sdpMid) && optNumber(c.sdpMLineIndex) && optString(c.usernameFragment);

const isWaitingPatient = (p) => isObject(p) && isId(p.station) && isId(p.session) && isString(p.site, 200) && optString(p.since)
  && optional(Number.isInteger)(p.ticket) && optional((x) => isString(x, 500))(p.reason);

const HUB = {
  welcome: (m) => isId(m.gp) && optString(m.name) && (m.ice_servers === undefined || (Array.isArray(m.ice_servers) && m.ice_servers.every(isIceServer)))
    && (m.ice_transport_policy === undefined || m.ice_transport_policy === "all" || m.ice_transport_policy === "relay"),
  waiting_room: (m) => Array.isArray(m.patients) && m.patients.length <= 500 && m.patients.every(isWaitingPatient),
  signal: (m) =>
    isId(m.station) &&
    (m.leg === "instruments" || m.leg === "face") &&
    (m.description === undefined || m.description === null ? isCandidate(m.candidate) : isDescription(m.description) && !m.candidate),
  station_offline: (m) => isId(m.station),
  station_back: (m) => isId(m.station),
  error: (m) => isString(m.code, 64) && optString(m.message),
};

/** A message from the hub's /ws/gp, or null. */
export function hubMessage(text) {
  const message = parseEnvelope(text, "hub");
  return message && check(message, "hub", HUB);
}

// The station sends {} when it has no appointment for the session (gp_link.py `_patient`).
const isPatient = (p) =>
  isObject(p) && optional((x) => isString(x, 300))(p.name) && optNumber(p.age) && optNumber(p.birth_year) && optString(p.sex);

const CONTROL = {
  joined: (m) => isString(m.session, 64) && (m.patient === undefined || m.patient === null || isPatient(m.patient)),
  ack: (m) => isString(m.ref, 64),
  error: (m) => isString(m.code, 64) && optString(m.message),
  state: (m) => optString(m.session) && isString(m.state, 64),
  print_status: (m) =>
    optString(m.session) && Number.isInteger(m.job) && m.job >= 0 && optional((x) => isString(x) || isNumber(x))(m.number) &&
    optional((x) => typeof x === "boolean")(m.printed) && optNumber(m.bytes) && optString(m.error) && optString(m.warning),
  ended: (m) => optString(m.session) && optString(m.state),
  notice: (m) => optString(m.session),
  waiting: (m) => optString(m.session),
};

/** A message from the cabin's `control` data channel, or null. Readings, guidance and snapshot
 *  parts go there too when the station has no `vitals` channel (gp_link.py): checked as vitals. */
export function controlMessage(text) {
  const message = parseEnvelope(text, "control");
  if (message && message.type in VITALS) return check(message, "control", VITALS);
  return message && check(message, "control", CONTROL);
}

const BP_VALUE = (v) => isObject(v) && isNumber(v.systolic) && isNumber(v.diastolic) && optNumber(v.mean_arterial);
// One point of a screening audiogram (devices/measurements.py Audiogram): an ear, a frequency, a threshold or none.
const AUDIOGRAM_POINT = (p) => isObject(p) && ["right", "left"].includes(p.ear) && isNumber(p.hz) &&
  (p.threshold_db_hl === null || isNumber(p.threshold_db_hl)) && isNumber(p.max_db_hl) &&
  typeof p.reliable === "boolean" && isNumber(p.false_alarms);
const VALUE = {
  temperature: isNumber,
  blood_pressure: BP_VALUE,
  cuff_pressure: isNumber,
  spo2: isNumber,
  weight: isNumber,
  height: isNumber,
  glucose: isNumber,
  pleth: (v) => Array.isArray(v) && v.length <= 10000 && v.every(isNumber),
  vision: isVisionValue,
  hearing: (v) => Array.isArray(v) && v.length <= 16 && v.every(AUDIOGRAM_POINT),
};

/** Whether `m` is a Reading.to_json() the console can show. */
export function isReading(m) {
  if (!isObject(m) || !optString(m.device_id) || !optString(m.model) || !optional(Array.isArray)(m.flags)) return false;
  if (m.flags && !m.flags.every((f) => isString(f, 64))) return false;
  if (m.kind === "rejected") return isString(m.measurement_kind, 64) && isString(m.rule, 64) && optString(m.reason);
  if (!(m.kind in VALUE)) return false;
  const value = m.kind === "pleth" && m.value === undefined ? m.samples : m.value;
  if (!VALUE[m.kind](value)) return false;
  return m.kind !== "pleth" || isNumber(m.rate_hz);
}

const CAMERAS = ["otoscope", "dermatoscope"];
const optCamera = (v) => v === undefined || CAMERAS.includes(v);

const VITALS = {
  reading: (m) => optString(m.session) && isReading(m.measurement) && optNumber(m.stale_after_s),
  guidance: (m) => optString(m.advice) && optNumber(m.focus) && optNumber(m.brightness) && optNumber(m.glare) &&
    optCamera(m.camera),
  snapshot: (m) =>
    isString(m.id, 64) && Number.isInteger(m.index) && Number.isInteger(m.count) && m.count >= 1 && m.count <= 4096 &&
    m.index >= 0 && m.index < m.count && isString(m.data, 256 * 1024) && optString(m.mime) && optCamera(m.camera),
};

/** A message from the cabin's `vitals` data channel, or null. */
export function vitalsMessage(text) {
  const message = parseEnvelope(text, "vitals");
  return message && check(message, "vitals", VITALS);
}
