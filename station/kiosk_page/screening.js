// The screenings the patient runs on this screen (docs/design.md, "Screenings on the kiosk"): the view
// carries the run's current presentation; each kind draws it and posts the patient's answer, and the
// station's procedure decides what comes next. The page keeps nothing of a run.

import { el } from "/ui/dom.js";
import { t, tCode } from "/ui/i18n.js";
import { hearing } from "./hearing.js";
import { visionChart } from "./vision.js";

// The drawing of each kind of screening: (run, answer) => nodes, where answer(value) posts the answer.
const SCREENS = {
  audiometer: hearing,
  vision_chart: visionChart,
};

export function screening(run, ui) {
  const draw = SCREENS[run.kind];
  const answer = (value) => ui.post("/api/screening", { run: run.run, answer: value });
  const [done, most] = run.progress ?? [0, 0];
  return el("div", { class: "screening", id: "screening", "data-kind": run.kind, "data-run": run.run,
                     "data-step": run.answered },
    el("h3", { text: tCode("screening", run.kind, run.kind) }),
    most > 0 ? el("progress", { max: most, value: done, "aria-label": t("screening.progress") }) : null,
    ...(draw ? draw(run, answer) : [el("p", { text: t("instrument.waiting") })]));
}
