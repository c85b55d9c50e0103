// The hearing screening's result as an audiogram (docs/design.md, "Hearing screening"): frequency on a
// log axis, hearing level downwards from -10 to 120 dB HL, O in red for the right ear and X in blue for
// the left, each ear's thresholds joined by a line; a tone not heard up to the loudest level the
// cabin could play shows at that level with a downward arrow. Marked "screening": the cabin's
// headphones and touchscreen are not a sound booth's audiometer.

import { t } from "/ui/i18n.js";

const NS = "http://www.w3.org/2000/svg";
const W = 360;
const H = 260;
const LEFT = 44;
const TOP = 34;
const RIGHT = 12;
const BOTTOM = 28;
const HZ = [250, 500, 1000, 2000, 4000, 8000];
const DB = { min: -10, max: 120 };
const EAR = { right: { color: "#c62828", mark: "O" }, left: { color: "#1565c0", mark: "X" } };

const x = (hz) => LEFT + (Math.log2(hz / HZ[0]) / Math.log2(HZ.at(-1) / HZ[0])) * (W - LEFT - RIGHT);
const y = (db) => TOP + ((db - DB.min) / (DB.max - DB.min)) * (H - TOP - BOTTOM);

function svg(tag, attrs = {}, text = undefined) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function grid() {
  const nodes = [];
  for (let db = DB.min; db <= DB.max; db += 10) {
    nodes.push(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(db), y2: y(db), stroke: db === 0 ? "#777" : "#ddd" }));
    if (db % 20 === 0) nodes.push(svg("text", { x: LEFT - 6, y: y(db) + 4, "text-anchor": "end", "font-size": 11 }, String(db)));
  }
  for (const hz of HZ) {
    nodes.push(svg("line", { x1: x(hz), x2: x(hz), y1: TOP, y2: H - BOTTOM, stroke: "#ddd" }));
    nodes.push(svg("text", { x: x(hz), y: H - BOTTOM + 16, "text-anchor": "middle", "font-size": 11 },
      hz >= 1000 ? `${hz / 1000}k` : String(hz)));
  }
  return nodes;
}

function mark(point) {
  const { color, mark: symbol } = EAR[point.ear];
  const heard = point.threshold_db_hl !== null;
  const level = heard ? point.threshold_db_hl : point.max_db_hl;
  const cx = x(point.hz);
  const cy = y(level);
  const group = svg("g", { "data-ear": point.ear, "data-hz": point.hz, "data-db": heard ? level : "none",
                           "data-reliable": String(point.reliable), opacity: point.reliable ? 1 : 0.45 });
  group.append(symbol === "O"
    ? svg("circle", { cx, cy, r: 6, fill: "none", stroke: color, "stroke-width": 2 })
    : svg("path", { d: `M${cx - 6} ${cy - 6}L${cx + 6} ${cy + 6}M${cx - 6} ${cy + 6}L${cx + 6} ${cy - 6}`,
                    stroke: color, "stroke-width": 2 }));
  if (!heard) {  // no response up to this level
    const dx = point.ear === "right" ? -9 : 9;
    group.append(svg("path", { d: `M${cx + dx} ${cy + 4}l0 12m-4 -4l4 4l4 -4`, stroke: color, fill: "none",
                               "stroke-width": 2 }));
  }
  return group;
}

function line(points, ear) {
  const heard = points.filter((p) => p.ear === ear && p.threshold_db_hl !== null).sort((a, b) => a.hz - b.hz);
  if (heard.length < 2) return null;
  return svg("polyline", { points: heard.map((p) => `${x(p.hz)},${y(p.threshold_db_hl)}`).join(" "), fill: "none",
                           stroke: EAR[ear].color, "stroke-width": 1.5, "data-ear": ear });
}

/** Draw the audiogram of a `hearing` reading into `box` (emptied when there is none). */
export function drawAudiogram(box, m) {
  box.replaceChildren();
  box.hidden = !m;
  if (!m) return;
  const points = Array.isArray(m.value) ? m.value.filter((p) => EAR[p.ear]) : [];
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("audiogram.label"),
                             "data-testid": "audiogram-chart", "data-points": points.length });
  chart.append(svg("text", { x: LEFT, y: 14, "font-size": 13, "font-weight": 700, "data-role": "screening" },
    t("audiogram.screening")));
  chart.append(svg("text", { x: W - RIGHT, y: 14, "font-size": 11, "text-anchor": "end" },
    t("audiogram.legend")));
  chart.append(svg("text", { x: 4, y: TOP - 8, "font-size": 10 }, t("audiogram.axis")));
  chart.append(...grid());
  for (const ear of ["right", "left"]) {
    const joined = line(points, ear);
    if (joined) chart.append(joined);
  }
  chart.append(...points.map(mark));
  box.append(chart);
}
