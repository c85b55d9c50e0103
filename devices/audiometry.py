"""The hearing screening's procedure: a simplified Hughson-Westlake, pure (docs/design.md, "Hearing screening").

Pure rules, no I/O and no clock, so that a simulated listener can run it thousands of times in a
test: the station's `Audiometer` (devices/audiometer.py) turns its levels (dB HL) into the digital
levels the kiosk plays (dBFS) and its result into an `Audiogram`. For each ear (right, then left)
and frequency (1000, 2000, 4000, then 500 Hz): a familiarisation tone at a clearly audible level
(raised 20 dB while unheard), then down 10 dB after a response and up 5 dB after none; the
threshold is the lowest level heard on 2 ascending presentations (ISO 8253-1, ASHA 2005). A
level above the track's most (the calibration's reach, capped for safety) is never presented;
a track that reaches its presentation cap ends with no reliable threshold, and each track hides
one silent catch trial among its tones: a "heard" to it is a false alarm, and so is a touch in
the pause before a tone (an early answer), after which the presentation is made again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.screening import ScreeningError

EARS = ("right", "left")
FREQUENCIES_HZ = (1000, 2000, 4000, 500)
FLOOR_DB_HL = -10
SAFETY_CAP_DB_HL = 80  # never louder than this, whatever the headphones could reach
START_DB_HL = 40
STEP = 5
MAX_PRESENTATIONS = 16  # tones and early answers per track, catch trial excluded: a random clicker ends here
TONE_MS = 1000
PAUSE_MS = (1200, 3000)  # a random wait before each tone, so that its moment cannot be guessed


@dataclass(frozen=True, slots=True)
class TrackResult:
    """One ear at one frequency: the threshold (None: none found) and how far the levels could go."""

    ear: str
    hz: int
    threshold_db_hl: int | None
    max_db_hl: int
    reliable: bool
    false_alarms: int


@dataclass(slots=True)
class _Track:
    ear: str
    hz: int
    most: int  # the loudest level this track may present, dB HL, on the 5 dB grid
    catch_at: int  # the tone count before which the silent catch trial comes
    level: int = 0
    tones: int = 0
    catches: int = 0  # silent intervals answered: the catch trial, and each pause touched before its tone
    early: int = 0
    catching: bool = False
    false_alarms: int = 0
    heard_once: bool = False
    counting: bool = False  # from the first miss after a response on: the ascending runs count
    ascending: bool = False  # the tone now comes after a miss
    misses_at_most: int = 0
    heard_ascending: dict[int, int] = field(default_factory=dict)
    result: TrackResult | None = None

    def take(self, heard: bool) -> None:
        """Move on after the patient's answer to this track's current presentation."""
        if self.catching:
            self.catching = False
            self.catches += 1
            self.false_alarms += heard
            return
        self.tones += 1
        if heard:
            self._heard()
        else:
            self._missed()
        if self.result is None and self.tones + self.early >= MAX_PRESENTATIONS:
            self._end(None, reliable=False)
        self.catching = self.result is None and self.tones == self.catch_at

    def take_early(self) -> None:
        """A touch before the tone: a false alarm in a silent interval; the presentation is made again."""
        self.early += 1
        self.catches += 1
        self.false_alarms += 1
        if self.tones + self.early >= MAX_PRESENTATIONS:
            self._end(None, reliable=False)

    def _heard(self) -> None:
        self.heard_once = True
        if self.ascending or self.level == FLOOR_DB_HL:  # at the floor, a response cannot be followed lower
            count = self.heard_ascending[self.level] = self.heard_ascending.get(self.level, 0) + 1
            if count >= 2:
                self._end(self.level, reliable=True)
                return
        self.ascending = False
        self.level = max(FLOOR_DB_HL, self.level - 2 * STEP)

    def _missed(self) -> None:
        if self.level >= self.most:
            self.misses_at_most += 1
            if self.misses_at_most >= 2:
                self._end(None, reliable=True)  # not heard at the loudest level there is
                return
        self.counting = self.counting or self.heard_once
        self.ascending = self.counting
        self.level = min(self.most, self.level + (STEP if self.counting else 4 * STEP))  # familiarisation: +20

    def _end(self, threshold: int | None, *, reliable: bool) -> None:
        self.result = TrackResult(self.ear, self.hz, threshold, self.most, reliable and not self.false_alarms,
                                  self.false_alarms)


def _parsed(answer: Mapping[str, object]) -> tuple[bool, bool, int | None]:
    """An answer's (heard, early, step), or ScreeningError("bad_answer")."""
    heard, early, step = answer.get("heard"), answer.get("early", False), answer.get("step")
    step_ok = "step" not in answer or (isinstance(step, int) and not isinstance(step, bool))
    if (not isinstance(heard, bool) or not isinstance(early, bool) or (early and not heard) or not step_ok
            or not set(answer) <= {"heard", "early", "step"}):
        raise ScreeningError("bad_answer", 'the answer is {"heard": true | false, "step": n}, with "early": true '
                             "for a touch before the tone")
    return heard, early, step if isinstance(step, int) else None


class HearingProcedure:
    """The screening of both ears at the four frequencies; `most` gives each track's loudest level (dB HL)."""

    def __init__(self, most: Mapping[tuple[str, int], int], rng: random.Random) -> None:
        self._rng = rng
        self._tracks = [self._track(ear, hz, most[(ear, hz)]) for ear in EARS for hz in FREQUENCIES_HZ]
        self._pause_ms = self._draw_pause()

    def _track(self, ear: str, hz: int, most: int) -> _Track:
        grid = max(FLOOR_DB_HL, min(SAFETY_CAP_DB_HL, most) // STEP * STEP)
        return _Track(ear, hz, grid, catch_at=self._rng.randint(2, 5), level=min(START_DB_HL, grid))

    def _draw_pause(self) -> int:
        return self._rng.randint(*PAUSE_MS)

    def _current(self) -> _Track | None:
        return next((t for t in self._tracks if t.result is None), None)

    def next(self) -> dict[str, object] | None:
        """The presentation now: ear, frequency, level in dB HL (None: a silent catch trial), timing."""
        track = self._current()
        if track is None:
            return None
        return {"ear": track.ear, "hz": track.hz, "db_hl": None if track.catching else track.level,
                "duration_ms": TONE_MS, "pause_ms": self._pause_ms}

    def answer(self, answer: Mapping[str, object]) -> None:
        """{"heard": bool, "step": n}: the patient touched "I hear it", or the answer window closed.

        With "early": true, the touch came before the tone (docs/design.md, "Hearing screening").
        `step` (the answers before this one, as the kiosk view's `answered`) refuses as stale an
        answer meant for an earlier presentation, such as a late timer's.
        """
        heard, early, step = _parsed(answer)
        track = self._current()
        if track is None:
            raise ScreeningError("stale", "the screening is over")
        if step is not None and step != self.progress()[0]:
            raise ScreeningError("stale", "this presentation was already answered")
        if early:
            track.take_early()
        else:
            track.take(heard)
        self._pause_ms = self._draw_pause()

    def progress(self) -> tuple[int, int]:
        """Presentations done, and the most there can be (a finished track counts what it took)."""
        done = sum(t.tones + t.catches for t in self._tracks)
        most = sum(t.tones + t.catches if t.result else MAX_PRESENTATIONS + 1 for t in self._tracks)
        return done, most

    def results(self) -> tuple[TrackResult, ...]:
        """Each track's result, in the order they ran (complete once `next()` is None)."""
        return tuple(t.result for t in self._tracks if t.result is not None)

    def catch_trials(self) -> int:
        """The silent presentations made so far."""
        return sum(t.catches for t in self._tracks)
