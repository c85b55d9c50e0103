// The coordinator's "Activité" section (docs/design.md, "Activity"): a site's figures over a range of days from
// GET /api/coordinator/activity, drawn as SVG bar charts built with DOM calls (no markup from strings, no style
// attribute: the hub's CSP), a table saying the same for screen readers, and the link to the CSV file.
// The figures never name a patient.

import { $, el } from "/ui/dom.js";
import { formatNumber, language, t, tCode } from "/ui/i18n.js";
import { call } from "/static/api.js";

const API = "/api/coordinator/activity";
const SVG = "http://www.w3.org/2000/svg";
const DEFAULT_DAYS = 28;
const WIDTH = 640;
const LABEL_WIDTH = 230;
const ROW = 30;
const BAR = 20;
const PLACE_CHARS = 18;

const state = { data: null, error: null };

/** An SVG element with attributes and children (text children become text nodes). */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

const isoDay = (date) => date.toLocaleDateString("en-CA"); // YYYY-MM-DD, the browser's day
const dayLabel = (iso, options = { weekday: "short", day: "numeric", month: "short" }) =>
  new Intl.DateTimeFormat(language(), { ...options, timeZone: "UTC" }).format(new Date(`${iso}T12:00:00Z`));
const minutes = (seconds) => (seconds === null ? "—" : formatNumber(seconds / 60, 1, 0) + "\u00a0min");
const shortPlace = (place) => place.split(",")[0].slice(0, PLACE_CHARS); // the whole place is in the table
const count = (value) => (value === null ? "—" : String(value));

/** A horizontal bar chart: one row per bar, its label, its bar and its value; `kind` colours the bars. */
function barChart(id, title, bars, kind) {
  const most = Math.max(1, ...bars.map((b) => b.value));
  const room = WIDTH - LABEL_WIDTH - 50;
  const height = Math.max(1, bars.length) * ROW;
  const chart = svg("svg", { id, viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: "img",
    "aria-labelledby": `${id}-title`, "data-testid": id, class: "chart" });
  bars.forEach((bar, i) => {
    const y = i * ROW;
    const width = Math.round((bar.value / most) * room);
    chart.append(
      svg("text", { x: LABEL_WIDTH - 8, y: y + BAR - 5, "text-anchor": "end", class: "chart-label" }, bar.label),
      svg("rect", { x: LABEL_WIDTH, y: y + 4, width, height: BAR - 4, rx: 3, class: `bar bar-${bar.kind ?? kind}`,
        "data-testid": "bar", "data-value": bar.value }),
      svg("text", { x: LABEL_WIDTH + width + 6, y: y + BAR - 5, class: "chart-value" }, String(bar.value)));
  });
  return el("figure", { class: "chart-figure" }, el("figcaption", { id: `${id}-title`, text: title }), chart);
}

function charts(data) {
  const known = data.visits_kept;
  const what = known ? "consultations" : "bookings";
  const stop = (d) => `${dayLabel(d.day)} · ${shortPlace(d.place)}`;
  const doctor = data.regular_doctor;
  return el("div", { class: "charts" },
    barChart("chart-weeks", t(`activity.chart_weeks_${what}`),
      data.weeks.map((w) => ({ label: w.week, value: w[what] })), "main"),
    barChart("chart-stops", t(`activity.chart_stops_${what}`),
      data.days.map((d) => ({ label: stop(d), value: d[what] })), "main"),
    barChart("chart-no-shows", t("activity.chart_no_shows"),
      data.days.map((d) => ({ label: stop(d), value: d.no_shows })), "warn"),
    barChart("chart-regular-doctor", t("activity.chart_regular_doctor", { answered: doctor.answered }), [
      { label: t("activity.without_doctor"), value: doctor.without, kind: "warn" },
      { label: t("activity.with_doctor"), value: doctor.answered - doctor.without, kind: "main" }]));
}

function totals(data) {
  const doctor = data.regular_doctor;
  const share = doctor.share_without === null ? "—" : `${formatNumber(doctor.share_without * 100, 0, 0)}\u00a0%`;
  const facts = [
    ["activity.bookings", count(data.totals.bookings)], ["activity.no_shows", count(data.totals.no_shows)],
    ["activity.consultations", data.visits_kept ? count(data.totals.consultations) : t("activity.unknown")],
    ["activity.wait", `${minutes(data.totals.waiting.median_s)} · ${minutes(data.totals.waiting.p90_s)}`],
    ["activity.call_to_start", `${minutes(data.totals.call_to_start.median_s)} · ${minutes(data.totals.call_to_start.p90_s)}`],
    ["activity.share_without", t("activity.share_text", { share, without: doctor.without, answered: doctor.answered })],
  ];
  return el("dl", { class: "facts", "data-testid": "activity-totals" },
    ...facts.flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", { text: value })]));
}

function table(data) {
  const heads = ["activity.day", "activity.place", "activity.bookings", "activity.no_shows", "activity.consultations",
    "activity.wait_median", "activity.wait_p90"];
  return el("table", { class: "day-table activity-table", "data-testid": "activity-table" },
    el("caption", { text: t("activity.table_caption") }),
    el("thead", {}, el("tr", {}, ...heads.map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...data.days.map((d) => el("tr", { "data-testid": "activity-row" },
      el("th", { scope: "row", text: dayLabel(d.day, { dateStyle: "full" }) }), el("td", { text: d.place }),
      el("td", { text: count(d.bookings) }), el("td", { text: count(d.no_shows) }),
      el("td", { text: d.consultations === null ? t("activity.unknown") : String(d.consultations) }),
      el("td", { text: minutes(d.waiting.median_s) }), el("td", { text: minutes(d.waiting.p90_s) })))));
}

/** Draw the figures (again, after a change of language). */
export function renderActivity() {
  const { data, error } = state;
  $("activity-error").hidden = !error;
  $("activity-error").textContent = error ? tCode("error", error.error, error.message || t("error.server")) : "";
  $("activity-result").hidden = !data;
  if (!data) return;
  $("activity-note").textContent = data.visits_kept ? t("activity.note_visits") : t("activity.note_cabins");
  $("activity-figures").replaceChildren(totals(data), charts(data), table(data));
  const query = new URLSearchParams({ site: data.site, from: data.from, to: data.to, lang: language() });
  $("activity-csv").href = `${API}.csv?${query}`;
}

async function load() {
  const query = new URLSearchParams({ site: $("activity-site").value });
  if ($("activity-from").value) query.set("from", $("activity-from").value);
  if ($("activity-to").value) query.set("to", $("activity-to").value);
  let result;
  try {
    result = await call("GET", `${API}?${query}`);
  } catch {
    result = { status: 0, data: { error: "network" } };
  }
  if (result.status === 401) location.replace("/");
  state.data = result.status === 200 ? result.data : null;
  state.error = result.status === 200 ? null : result.data;
  renderActivity();
}

/** Fill the default range (the last four weeks) and listen to the section's form. */
export function bindActivity() {
  const today = new Date();
  $("activity-to").value = isoDay(today);
  $("activity-from").value = isoDay(new Date(today.getTime() - (DEFAULT_DAYS - 1) * 86400000));
  $("activity-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load().catch((error) => console.warn("desk: activity failed", error));
  });
}
