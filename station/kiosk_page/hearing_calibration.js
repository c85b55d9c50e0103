// The technician's calibration of the cabin's headphones, on the maintenance screen (docs/design.md,
// "Hearing screening"): pick an ear and a frequency, the reference tone plays in that ear at the
// station's reference level, the technician types what the sound level meter on the artificial ear
// reads (dB SPL), and saves it. The pick, the typed reading and the tone live here between renders.

import { el } from "/ui/dom.js";
import { t } from "/ui/i18n.js";
import { tone } from "./hearing.js";

const EARS = ["right", "left"];
const FREQUENCIES = [1000, 2000, 4000, 500];
const TONE_S = 30; // long enough to read a meter; picking again plays it again
const KEYS = [..."0123456789."];

const pick = { device: null, ear: null, hz: null, entry: "", source: null, watch: 0 };
let audio = null;

function stopTone() {
  pick.source?.stop();
  pick.source = null;
  clearInterval(pick.watch);
}

// The screen changed under the tone (the technician left maintenance): silence, and forget the pick.
function watchScreen() {
  pick.watch = setInterval(() => {
    if (document.getElementById("cal-entry")) return;
    stopTone();
    Object.assign(pick, { device: null, ear: null, hz: null, entry: "" });
  }, 500);
}

function choose(device, ear, hz, reference, ui) {
  stopTone();
  Object.assign(pick, { device, ear, hz, entry: "" });
  audio ??= new AudioContext();
  audio.resume().catch(() => {});
  pick.source = tone(audio, { ear, hz, dbfs: reference, at: audio.currentTime, seconds: TONE_S });
  ui.redraw();
  watchScreen();
}

async function save(ui) {
  const reading = Number(pick.entry);
  const result = await ui.post("/api/maintenance/calibration",
    { device: pick.device, ear: pick.ear, hz: pick.hz, db_spl: reading });
  if (result) {
    stopTone();
    Object.assign(pick, { ear: null, hz: null, entry: "" });
  }
  ui.redraw();
}

function typeKey(key, ui) {
  if (pick.entry.length < 5 && !(key === "." && pick.entry.includes("."))) pick.entry += key;
  ui.redraw();
}

function pointText(point) {
  return point ? t("calibration.point", { spl: point.db_spl.toFixed(1), max: point.max_db_hl }) : t("calibration.none");
}

function rows(audiometer, ui) {
  const points = new Map(audiometer.points.map((p) => [`${p.ear}-${p.hz}`, p]));
  return EARS.flatMap((ear) => FREQUENCIES.map((hz) => {
    const picked = pick.device === audiometer.device && pick.ear === ear && pick.hz === hz;
    const label = t("calibration.where", { ear: t(`calibration.ear.${ear}`), hz });
    return el("tr", { "data-point": `${ear}-${hz}`, class: picked ? "picked" : undefined },
      el("th", { scope: "row", text: label }),
      el("td", { text: pointText(points.get(`${ear}-${hz}`)) }),
      el("td", {}, el("button", { type: "button", text: t("calibration.measure"), "data-action": `cal-${ear}-${hz}`,
        "aria-label": t("calibration.measure.label", { where: label }),
        onclick: () => choose(audiometer.device, ear, hz, audiometer.reference_dbfs, ui) })));
  }));
}

function entry(ui) {
  if (pick.ear === null) return [];
  const keys = KEYS.map((key) => el("button", { type: "button", text: key, "data-action": `cal-key-${key}`,
                                               onclick: () => typeKey(key, ui) }));
  return [
    el("p", { id: "cal-entry", "aria-live": "polite",
              text: t("calibration.entry", { ear: t(`calibration.ear.${pick.ear}`), hz: pick.hz,
                                             spl: pick.entry || "…" }) }),
    el("div", { class: "keyboard", role: "group", "aria-label": t("calibration.keys") }, keys,
      el("button", { type: "button", text: "⌫", "aria-label": t("keypad.erase.label"), "data-action": "cal-erase",
                     onclick: () => { pick.entry = pick.entry.slice(0, -1); ui.redraw(); } })),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary", text: t("calibration.save"), "data-action": "cal-save",
                     disabled: !(Number(pick.entry) > 0), onclick: () => save(ui) }),
      el("button", { type: "button", text: t("calibration.stop"), "data-action": "cal-stop",
                     onclick: () => { stopTone(); Object.assign(pick, { ear: null, hz: null, entry: "" }); ui.redraw(); } })),
  ];
}

export function audioCalibration(view, ui) {
  const audiometers = view.audio_calibration ?? [];
  if (!audiometers.length) {
    stopTone();
    return [];
  }
  return audiometers.flatMap((audiometer) => [
    el("h3", { text: t("calibration.title", { device: audiometer.device }) }),
    el("p", { id: `cal-status-${audiometer.device}`,
              text: audiometer.calibrated_on ? t("calibration.done", { when: ui.dateTime(audiometer.calibrated_on) })
                : t("calibration.missing"),
              "data-calibrated": String(Boolean(audiometer.calibrated_on)) }),
    el("p", { text: t("calibration.how", { dbfs: audiometer.reference_dbfs }) }),
    el("table", { class: "calibration", id: `calibration-${audiometer.device}` }, el("tbody", {}, rows(audiometer, ui))),
    ...(pick.device === audiometer.device ? entry(ui) : []),
  ]);
}
