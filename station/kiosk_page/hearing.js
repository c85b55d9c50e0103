// The hearing screening on the kiosk (docs/design.md, "Hearing screening"): the station's procedure
// sends one presentation at a time, {ear, hz, dbfs (null: a silent catch trial), duration_ms, pause_ms};
// this page waits pause_ms, plays the pulsed tone in that ear only, and posts {heard: true} when the
// patient touches "I hear it", else {heard: false} once the answer window closes. The page re-renders on
// every view, so the presentation under way (its timers, the sound) lives here, keyed by run and step,
// and ends with its step: nothing of one run reaches the next.

import { el } from "/ui/dom.js";
import { t } from "/ui/i18n.js";

const PULSES = 3; // a pulsed tone is easier to notice than a steady one (ISO 8253-1)
const RAMP_S = 0.02; // 20 ms on and off: no click at the tone's edges
const ANSWER_MS = 1500; // after the tone, how long a touch still answers it
const CHANNEL = { left: 0, right: 1 };

const now = { key: null, answered: false, tone: "waiting", timers: [], sources: [], post: null };
let audio = null; // one context for the page's life: it holds no sound once a step ends

function context() {
  audio ??= new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
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
function mark(state) {
  now.tone = state;
  const node = document.getElementById("hearing-tone");
  if (node) node.dataset.tone = state;
}

function silence() {
  for (const timer of now.timers) clearTimeout(timer);
  for (const source of now.sources) source.stop();
  now.timers = [];
  now.sources = [];
}

function play(step) {
  if (step.dbfs === null || step.dbfs === undefined) {
    mark("silent");
    return;
  }
  const ctx = context();
  const pulse = step.duration_ms / 1000 / (2 * PULSES - 1);
  for (let i = 0; i < PULSES; i += 1) {
    now.sources.push(tone(ctx, { ear: step.ear, hz: step.hz, dbfs: step.dbfs, at: ctx.currentTime + 2 * i * pulse,
                                 seconds: pulse }));
  }
  mark("playing");
  now.timers.push(setTimeout(() => mark("played"), step.duration_ms));
}

function reply(heard) {
  if (now.answered) return;
  now.answered = true;
  silence();
  mark(heard ? "heard" : "missed");
  now.post({ heard });
}

// A new step: wait, play, then close the answer window. A step of a run no longer shown is dropped.
function begin(run, key, answer) {
  const step = run.step;
  silence();
  Object.assign(now, { key, answered: false, tone: "waiting", post: answer });
  const shown = () => document.querySelector(`#screening[data-run="${run.run}"][data-step="${run.answered}"]`) !== null;
  now.timers.push(setTimeout(() => {
    if (!shown()) return silence();
    play(step);
    now.timers.push(setTimeout(() => (shown() ? reply(false) : silence()), step.duration_ms + ANSWER_MS));
  }, step.pause_ms));
}

export function hearing(run, answer) {
  const key = `${run.run}:${run.answered}`;
  if (now.key !== key) begin(run, key, answer);
  const steps = t("kind.hearing.steps").split("|");
  return [
    el("img", { src: "/static/instrument-hearing.svg", alt: "", "aria-hidden": "true", class: "hearing-picture" }),
    el("ol", { class: "steps" }, steps.map((text) => el("li", { text }))),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary hear", id: "hearing-tone", text: t("hearing.heard"),
                     "data-action": "heard", "data-tone": now.tone,
                     onclick: () => reply(true) })),
  ];
}
