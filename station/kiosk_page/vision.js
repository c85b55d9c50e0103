// The near-vision screening's screen (docs/design.md, "Vision screening"): which eye to cover,
// the tumbling E drawn at its physical size (an SVG of exact CSS pixels, no font), four arrows
// and "I don't know". The station chooses each E; the page only converts millimetres to pixels.

import { el } from "/ui/dom.js";
import { t } from "/ui/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const ROTATION = { right: 0, down: 90, left: 180, up: 270 };  // the E's arms point right at 0 degrees
const ARROWS = [["up", "↑"], ["left", "←"], ["right", "→"], ["down", "↓"]];

// The run on screen, {run, step, sent}: once the patient answered the E of `step`, a second touch before
// the next E arrives must not answer it. It outlives a render; another run replaces it.
let held = null;

function hold(run) {
  if (held?.run !== run.run || held.step !== run.answered) held = { run: run.run, step: run.answered, sent: false };
  return held;
}

const buttons = () => document.querySelectorAll(".vision-answers button");

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** CSS pixels per millimetre on this screen: its width in CSS pixels over its configured width. */
export function pixelsPerMm(screenWidthMm) {
  return screen.width / screenWidthMm;
}

/** The tumbling E: a 5x5 grid, strokes and gaps a fifth of its height, turned to `orientation`. */
function optotype(step) {
  const side = step.size_mm * pixelsPerMm(step.screen_width_mm);
  const e = svg("svg", { id: "vision-e", viewBox: "0 0 5 5", width: side, height: side, role: "img",
    "aria-label": t("vision.optotype"), "data-orientation": step.orientation, "data-level": step.level,
    "data-size-px": side, "shape-rendering": "crispEdges" });
  const g = svg("g", { transform: `rotate(${ROTATION[step.orientation] ?? 0} 2.5 2.5)`, fill: "#000" });
  g.append(svg("rect", { x: 0, y: 0, width: 1, height: 5 }));
  for (const y of [0, 2, 4]) g.append(svg("rect", { x: 0, y, width: 5, height: 1 }));
  e.append(g);
  return el("div", { class: "vision-e" }, e);
}

// A failed post (network, refusal) lets the patient answer again, unless the next view moved on.
function answers(h, answer) {
  const send = (direction) => async () => {
    if (h.sent) return;
    h.sent = true;
    for (const button of buttons()) button.disabled = true;
    if ((await answer({ direction, step: h.step })) !== null || held !== h) return;
    h.sent = false;
    for (const button of buttons()) button.disabled = false;
  };
  return el("div", { class: "vision-answers" },
    ...ARROWS.map(([direction, arrow]) => el("button", { type: "button", class: `arrow ${direction}`,
      "data-action": `vision-${direction}`, "aria-label": t(`vision.${direction}`), text: arrow,
      disabled: h.sent, onclick: send(direction) })),
    el("button", { type: "button", class: "unsure", "data-action": "vision-unsure", text: t("vision.unsure"),
      disabled: h.sent, onclick: send("unsure") }));
}

/** The screen of one step of a vision_chart run: (run, answer) => nodes. */
export function visionChart(run, answer) {
  const step = run.step;
  if (!step || !step.eye) return [el("p", { text: t("instrument.waiting") })];
  return [el("div", { id: "vision", "data-step": run.answered },
    el("div", { class: `vision-cover ${step.eye}`, id: "vision-cover", "data-eye": step.eye },
      el("img", { src: "/static/vision-cover.svg", alt: "", "aria-hidden": "true" }),
      el("p", { class: "vision-eye", text: t(`vision.eye.${step.eye}`) })),
    el("p", { text: t("vision.question") }),
    optotype(step),
    answers(hold(run), answer))];
}
