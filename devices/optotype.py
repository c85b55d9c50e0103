"""Near-vision screening with a tumbling E: the optotype's size and the pure procedure.

Sizes follow the Parinaud scale (docs/design.md, "Vision screening"): Parinaud's unit P1 is the
letter that subtends 5' of arc at 25 cm (read there, decimal acuity 1.0), and Pn is n times it.
A level is stated as on a reading card held at `REFERENCE_MM` (40 cm), so Pn is a decimal near
acuity of 1.6/n; on the kiosk the E is scaled to the seat's distance so that it subtends the same
angle. An E is only shown when the screen can draw it: its stroke (a fifth of its height) must be
at least `MIN_STROKE_PX` device pixels. The result is never a level that was not shown.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from devices.measurements import PARINAUD_LEVELS as LEVELS
from devices.screening import ScreeningError

Eye = Literal["right", "left"]
EYES: tuple[Eye, Eye] = ("right", "left")
DIRECTIONS = ("up", "down", "left", "right")
ANSWERS = (*DIRECTIONS, "unsure")  # "unsure" counts as a wrong answer

START_LEVEL = 10.0  # large enough for most, small enough not to walk down the whole scale
PER_LEVEL = 4  # presentations of one level at most...
TO_PASS = 3  # ...of which this many right passes it (decided as soon as it is certain)
PARINAUD_UNIT_MM = 250.0  # P1 read at 25 cm is decimal 1.0
REFERENCE_MM = 400.0  # the reading distance a level is stated at
ARC_MINUTE = math.radians(1 / 60)
OPTOTYPE_ARCMIN = 5.0  # the E's height at decimal 1.0: a 5x5 grid of 1' strokes and gaps
MIN_STROKE_PX = 1.0  # a stroke under one device pixel is not drawn: its level is not shown


def letter_height_mm(level: float, distance_mm: float) -> float:
    """The E's height for Parinaud `level` seen from `distance_mm`, as the card's letter from `REFERENCE_MM`."""
    at_unit = 2 * PARINAUD_UNIT_MM * level * math.tan(OPTOTYPE_ARCMIN * ARC_MINUTE / 2)
    return at_unit * distance_mm / REFERENCE_MM


def decimal_acuity(level: float) -> float:
    """The decimal near acuity reading `level` at `REFERENCE_MM` shows (P2: 0.8)."""
    return REFERENCE_MM / (PARINAUD_UNIT_MM * level)


def logmar(level: float) -> float:
    """The logMAR of `level` at `REFERENCE_MM` (P2: 0.1)."""
    return -math.log10(decimal_acuity(level))


@dataclass(frozen=True, slots=True)
class ChartGeometry:
    """The kiosk's screen (its size and horizontal resolution) and how far the patient sits from it."""

    screen_width_mm: float
    screen_height_mm: float
    screen_width_px: int
    viewing_distance_mm: float

    def size_mm(self, level: float) -> float:
        """The E's height on this screen for `level`."""
        return letter_height_mm(level, self.viewing_distance_mm)

    def stroke_px(self, level: float) -> float:
        """The E's stroke for `level`, in device pixels."""
        return self.size_mm(level) / 5 * self.screen_width_px / self.screen_width_mm

    def shown_levels(self) -> tuple[float, ...]:
        """The levels it can draw, largest first: strokes of a device pixel or more, within half its height."""
        return tuple(level for level in LEVELS
                     if self.stroke_px(level) >= MIN_STROKE_PX and self.size_mm(level) <= self.screen_height_mm / 2)

    def describe(self) -> str:
        """The range of levels it can test, for `cabin diag`."""
        shown = self.shown_levels()
        where = f"{self.screen_width_mm:g}x{self.screen_height_mm:g} mm screen at {self.viewing_distance_mm:g} mm"
        if not shown:
            return f"{where}: no Parinaud level can be drawn"
        limit = "" if shown[-1] == LEVELS[-1] else f" (smaller would have strokes under {MIN_STROKE_PX:g} device pixel)"
        return f"{where}: P{shown[0]:g} to P{shown[-1]:g}{limit}"


@dataclass(frozen=True, slots=True)
class EyeResult:
    """One eye's screening: the smallest level passed (None: not even the largest shown)."""

    eye: Eye
    level: float | None
    smallest_shown: float
    presentations: int

    @property
    def limit_reached(self) -> bool:
        """Passed the smallest level this screen can draw, which is not the scale's smallest."""
        return self.level == self.smallest_shown and self.smallest_shown != LEVELS[-1]


@dataclass(slots=True)
class _Eye:
    eye: Eye
    index: int
    going: Literal["down", "up"] = "down"
    right: int = 0
    wrong: int = 0
    shown: int = 0
    best: float | None = None


class NearVisionProcedure:
    """Right eye then left: levels down from `START_LEVEL` until one fails (up first if it fails)."""

    def __init__(self, geometry: ChartGeometry, rng: random.Random) -> None:
        self.geometry = geometry
        self.levels = geometry.shown_levels()
        if not self.levels:
            raise ValueError(geometry.describe())
        self.most_per_eye = PER_LEVEL * len(self.levels)
        self._rng = rng
        self._start = next((i for i, level in enumerate(self.levels) if level <= START_LEVEL), len(self.levels) - 1)
        self._eye: _Eye | None = _Eye(EYES[0], self._start)
        self.results: list[EyeResult] = []
        self._orientation = rng.choice(DIRECTIONS)

    def next(self) -> Mapping[str, object] | None:
        """The E to show now: {eye, level, size_mm, orientation, screen_width_mm}; None when both eyes are done."""
        eye = self._eye
        if eye is None:
            return None
        level = self.levels[eye.index]
        return {"eye": eye.eye, "level": level, "size_mm": round(self.geometry.size_mm(level), 4),
                "orientation": self._orientation, "screen_width_mm": self.geometry.screen_width_mm}

    def answer(self, answer: Mapping[str, object]) -> None:
        """The direction the patient touched for the E shown ({direction: up|down|left|right|unsure}).

        With `step` (the presentations answered before it, as the kiosk view's `answered`), an answer
        meant for an earlier E is refused as stale rather than taken for the one shown now.
        """
        direction = answer.get("direction")
        eye = self._eye
        if direction not in ANSWERS:
            raise ScreeningError("bad_answer", f"direction must be one of {', '.join(ANSWERS)}")
        if eye is None or answer.get("step", self.progress()[0]) != self.progress()[0]:
            raise ScreeningError("stale", "this E was already answered")
        eye.shown += 1
        if direction == self._orientation:
            eye.right += 1
        else:
            eye.wrong += 1
        if eye.right >= TO_PASS or eye.wrong > PER_LEVEL - TO_PASS:
            self._level_decided(eye, passed=eye.right >= TO_PASS)
        if self._eye is eye and eye.shown >= self.most_per_eye:
            self._finish(eye)
        self._orientation = self._rng.choice(DIRECTIONS)

    def progress(self) -> tuple[int, int]:
        """Presentations so far and the most there can be."""
        done = sum(result.presentations for result in self.results)
        return done + (self._eye.shown if self._eye is not None else 0), len(EYES) * self.most_per_eye

    def _level_decided(self, eye: _Eye, *, passed: bool) -> None:
        eye.right = eye.wrong = 0
        if passed:
            eye.best = self.levels[eye.index]
            if eye.going == "down" and eye.index + 1 < len(self.levels):
                eye.index += 1
            else:
                self._finish(eye)
        elif eye.best is None and eye.index > 0:
            eye.going, eye.index = "up", eye.index - 1
        else:
            self._finish(eye)

    def _finish(self, eye: _Eye) -> None:
        self.results.append(EyeResult(eye.eye, eye.best, self.levels[-1], eye.shown))
        self._eye = _Eye(EYES[1], self._start) if eye.eye == EYES[0] else None
