// The hearing screening on the kiosk (docs/design.md, "Hearing screening"): the station's procedure
// sends one presentation at a time, {ear, hz, dbfs (null: a silent catch trial), duration_ms, pause_ms};
// this page waits pause_ms, plays the pulsed tone in that ear only, and posts {heard: true, step} when the
// patient touches "I hear it" from the tone's onset to the end of the answer window, {heard: true,
// early: true, step} for a touch before the tone, else {heard: false, step} once the window closes.
// The page re-renders on every view, so the run on screen (its audio context, the presentation under
// way: timers, sound) lives in one object here, keyed by run and step, dropped when the run changes.

import { el } from "/ui/dom.js";
import { t } from "/ui/i18n.js";

const PULSES = 3; // a pulsed tone is easier to notice than a steady one (ISO 8253-1)
const RAMP_S = 0.02; // 20 ms on and off: no click at the tone's edges
const ANSWER_MS = 1500; // after the tone, how long a touch still answers it
const CHANNEL = { left: 0, right: 1 };

// The run on screen: {run, audio, step, presentation, post, sent, tone, timers, sources}, or null.
let held = null;

function context(h) {
  h.audio ??= new AudioContext();
  if (h.audio.state === "suspended") h.audio.resume().catch(() => {});
  return h.audio;
}

// A sine at `dbfs` (0 dBFS: a full-scale sine) in one ear, from `at` for `seconds`, with ramps.
export function tone(ctx, { ear, hz, dbfs, at, seconds }) {
  const oscillator = new OscillatorNode(ctx, { frequency: hz });
  const gain = new GainNode(ctx, { gain: 0 });
  const merger = new ChannelMergerNode(ctx, { numberOfInputs: 2 });
  const peak = 10 ** (Math.min(0, dbfs) / 20);
  gain.gain.setValueAtTime(0, at);
  gain.gain.linearRampToValueAtTime(peak, at + RAMP_S);
  gain.gain.setValueAtTime(peak, at + seconds - RAMP_S);
  gain.gain.linearRampToValueAtTime(0, at + seconds);
  oscillator.connect(gain).connect(merger, 0, CHANNEL[ear]).connect(ctx.destination);
  oscillator.start(at);
  oscillator.stop(at + seconds);
  return oscillator;
}

// What the tone is doing, on the button (for the page's tests and a technician's eyes).
function mark(h, state) {
  h.tone = state;
  const node = document.getElementById("hearing-tone");
  if (node) node.dataset.tone = state;
}

function silence(h) {
  for (const timer of h.timers) clearTimeout(timer);
  for (const source of h.sources) source.stop();
  h.timers = [];
  h.sources = [];
}

// The run is no longer shown: no sound, no timer, no audio context left of it.
function drop() {
  if (held === null) return;
  silence(held);
  held.audio?.close().catch(() => {});
  held = null;
}

const shown = (h) => held === h
  && document.querySelector(`#screening[data-run="${h.run}"][data-step="${h.step}"]`) !== null;

function play(h) {
  const step = h.presentation;
  if (step.dbfs === null || step.dbfs === undefined) {
    mark(h, "silent");
    return;
  }
  const ctx = context(h);
  const pulse = step.duration_ms / 1000 / (2 * PULSES - 1);
  for (let i = 0; i < PULSES; i += 1) {
    h.sources.push(tone(ctx, { ear: step.ear, hz: step.hz, dbfs: step.dbfs, at: ctx.currentTime + 2 * i * pulse,
                               seconds: pulse }));
  }
  mark(h, "playing");
  h.timers.push(setTimeout(() => mark(h, "played"), step.duration_ms));
}

// The patient's touch (heard) or the answer window closing (not heard). A touch while the page still
// waits for the tone is sent as early. If the station takes no answer (network, refusal) while the
// step is still shown, the presentation is made again: the screen never waits for nothing.
async function reply(h, heard) {
  if (h.sent) return;
  const early = heard && h.tone === "waiting";
  h.sent = true;
  silence(h);
  mark(h, early ? "early" : heard ? "heard" : "missed");
  const step = h.step;
  const taken = await h.post(early ? { heard, early, step } : { heard, step });
  if (taken === null && h.step === step && shown(h)) present(h);
}

// Wait, play, then close the answer window; a step no longer shown drops the run.
function present(h) {
  silence(h);
  Object.assign(h, { sent: false, tone: "waiting" });
  mark(h, "waiting");
  h.timers.push(setTimeout(() => {
    if (!shown(h)) return drop();
    play(h);
    h.timers.push(setTimeout(() => (shown(h) ? reply(h, false) : drop()), h.presentation.duration_ms + ANSWER_MS));
  }, h.presentation.pause_ms));
}

// The object of this run, its presentation begun when the step is new.
function hold(run, answer) {
  if (held?.run !== run.run) {
    drop();
    held = { run: run.run, audio: null, step: null, timers: [], sources: [] };
  }
  if (held.step !== run.answered) {
    Object.assign(held, { step: run.answered, presentation: run.step, post: answer });
    present(held);
  }
  return held;
}

export function hearing(run, answer) {
  const h = hold(run, answer);
  const steps = t("kind.hearing.steps").split("|");
  return [
    el("img", { src: "/static/instrument-hearing.svg", alt: "", "aria-hidden": "true", class: "hearing-picture" }),
    el("ol", { class: "steps" }, steps.map((text) => el("li", { text }))),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary hear", id: "hearing-tone", text: t("hearing.heard"),
                     "data-action": "heard", "data-tone": h.tone,
                     onclick: () => reply(h, true) })),
  ];
}
