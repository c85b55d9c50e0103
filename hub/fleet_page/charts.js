// The fleet page's history charts (docs/design.md, "The fleet view"), drawn on <canvas> without a library:
// lines over time (the event loop's lag, each device's battery) and a band of the cabin's states.

import { fitCanvas } from "/ui/dom.js";

export const PALETTE = ["#1f6f8b", "#a66a00", "#2e7d4f", "#7b3fa0", "#b3261e", "#4a5a6a"];
const INK = "#5d6b78";
const GRID = "#d9e0e6";
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

function prepare(canvas) {
  fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const width = canvas.width / ratio;
  const height = canvas.height / ratio;
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, width, height };
}

function timeAxis(ctx, from, to, x, height, label) {
  ctx.fillStyle = INK;
  ctx.textBaseline = "bottom";
  ctx.textAlign = "left";
  ctx.fillText(label(from), x(from), height);
  ctx.textAlign = "right";
  ctx.fillText(label(to), x(to), height);
}

/**
 * Lines over time: `series` is [{name, points: [[ms, value]...]}], values from 0 to `max` (found when null),
 * `unit` formats the axis labels, `label` a moment.
 */
export function drawLines(canvas, series, { from, to, max = null, unit = String, label }) {
  const { ctx, width, height } = prepare(canvas);
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const top = max ?? Math.max(1e-9, ...values) * 1.1;
  const x = (ms) => PAD.left + ((ms - from) / Math.max(1, to - from)) * (width - PAD.left - PAD.right);
  const y = (v) => height - PAD.bottom - (v / top) * (height - PAD.top - PAD.bottom);
  ctx.strokeStyle = GRID;
  ctx.fillStyle = INK;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const fraction of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(top * fraction));
    ctx.lineTo(width - PAD.right, y(top * fraction));
    ctx.stroke();
    ctx.fillText(unit(top * fraction), PAD.left - 4, y(top * fraction));
  }
  series.forEach((s, index) => {
    ctx.strokeStyle = PALETTE[index % PALETTE.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.points.forEach(([ms, v], i) => (i === 0 ? ctx.moveTo(x(ms), y(v)) : ctx.lineTo(x(ms), y(v))));
    ctx.stroke();
    if (s.points.length === 1) { // a line needs two points: one sample is a dot
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillRect(x(s.points[0][0]) - 2, y(s.points[0][1]) - 2, 4, 4);
    }
  });
  timeAxis(ctx, from, to, x, height, label);
}

/** A band of states over time: `spans` is [[ms, state]...], each lasting until the next; `colour(state)`. */
export function drawBand(canvas, spans, { from, to, colour, label }) {
  const { ctx, width, height } = prepare(canvas);
  const x = (ms) => PAD.left + ((ms - from) / Math.max(1, to - from)) * (width - PAD.left - PAD.right);
  spans.forEach(([ms, state], i) => {
    const end = i + 1 < spans.length ? spans[i + 1][0] : to;
    ctx.fillStyle = colour(state);
    ctx.fillRect(x(ms), PAD.top, Math.max(1, x(end) - x(ms)), height - PAD.top - PAD.bottom);
  });
  timeAxis(ctx, from, to, x, height, label);
}
