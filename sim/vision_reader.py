"""A simulated patient's eyes reading the kiosk's near-vision chart, through the kiosk API.

It reads the E's orientation from the view the page renders (as the page draws it) and touches
the right arrow while the E is at or above its acuity for the eye asked, "I don't know" below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.patient import KioskClient


def _screening(view: dict[str, Any]) -> dict[str, Any] | None:
    session = view.get("session") or {}
    run = session.get("screening")
    return run if isinstance(run, dict) and run.get("kind") == "vision_chart" else None


class SimVisionReader:
    """Answers a vision screening with a given Parinaud acuity per eye (the smallest level it reads)."""

    def __init__(self, kiosk: KioskClient, *, right: float, left: float,
                 narrate: Callable[[str], None] = lambda line: None) -> None:
        self._kiosk = kiosk
        self._acuity = {"right": right, "left": left}
        self._narrate = narrate

    async def read_chart(self) -> int:
        """Wait for a vision screening and answer it to the end; the number of answers given."""
        view = await self._kiosk.wait_for(lambda v: _screening(v) is not None)
        answers = 0
        while (run := _screening(view)) is not None:
            step = run["step"]
            sees = float(step["level"]) >= self._acuity[step["eye"]]
            direction = step["orientation"] if sees else "unsure"
            await self._kiosk.post("/api/screening", {"run": run["run"], "answer": {"direction": direction}})
            answers += 1
            view = await self._kiosk.wait_for(_moved_on(run))
        self._narrate(f"patient: read the vision chart ({answers} answers)")
        return answers


def _moved_on(run: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """Whether a view shows this run past the step answered (or no run any more)."""
    def moved(view: dict[str, Any]) -> bool:
        now = _screening(view)
        return now is None or now["run"] != run["run"] or now["answered"] != run["answered"]
    return moved
