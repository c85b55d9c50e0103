"""The hearing screening's procedure (devices/audiometry.py) run by simulated listeners.

A listener with known thresholds per ear and frequency must be found within 5 dB (the
procedure's 5 dB grid: ISO 8253-1 and ASHA's Hughson-Westlake find the lowest level heard on
2 ascending presentations); one who answers at random must end flagged; every run ends
within the presentation cap, whatever the answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.audiometry import (
    EARS,
    FLOOR_DB_HL,
    FREQUENCIES_HZ,
    MAX_PRESENTATIONS,
    PAUSE_MS,
    SAFETY_CAP_DB_HL,
    HearingProcedure,
    TrackResult,
)
from devices.screening import ScreeningError

POINTS = [(ear, hz) for ear in EARS for hz in FREQUENCIES_HZ]
Listener = Callable[[Mapping[str, object]], bool]
MOST = 80


def run(procedure: HearingProcedure, listener: Listener) -> tuple[int, list[Mapping[str, object]]]:
    """Answer every presentation; the presentations made, bounded so that a loop would fail the test."""
    shown: list[Mapping[str, object]] = []
    bound = len(POINTS) * (MAX_PRESENTATIONS + 1)
    while (step := procedure.next()) is not None:
        assert len(shown) < bound, "the procedure did not end within its cap"
        shown.append(step)
        procedure.answer({"heard": listener(step)})
    return len(shown), shown


def threshold_listener(thresholds: Mapping[tuple[str, int], int]) -> Listener:
    """Hears a tone at or above its threshold, never a silent one."""
    def hears(step: Mapping[str, object]) -> bool:
        level = step["db_hl"]
        return isinstance(level, int) and level >= thresholds[(str(step["ear"]), int(str(step["hz"])))]
    return hears


thresholds_st = st.fixed_dictionaries({point: st.integers(FLOOR_DB_HL, 100) for point in POINTS})


@settings(max_examples=200, deadline=None)
@given(thresholds=thresholds_st, reach=st.integers(30, 120), seed=st.integers(0, 2**32 - 1))
def test_a_listener_s_thresholds_are_found_within_5_db_or_said_beyond_reach(
        thresholds: dict[tuple[str, int], int], reach: int, seed: int) -> None:
    procedure = HearingProcedure({point: reach for point in POINTS}, random.Random(seed))
    run(procedure, threshold_listener(thresholds))
    results = procedure.results()
    assert [(r.ear, r.hz) for r in results] == POINTS  # right ear first, 1000, 2000, 4000 then 500 Hz
    most = min(reach, SAFETY_CAP_DB_HL) // 5 * 5
    for result in results:
        truth = thresholds[(result.ear, result.hz)]
        assert result.reliable and result.false_alarms == 0 and result.max_db_hl == most
        if truth > most:
            assert result.threshold_db_hl is None
        else:
            assert result.threshold_db_hl is not None and 0 <= result.threshold_db_hl - truth < 5


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.booleans(), min_size=1, max_size=400), reach=st.integers(-20, 130),
       seed=st.integers(0, 2**32 - 1))
def test_any_answers_end_within_the_cap_at_levels_never_above_the_most(
        answers: list[bool], reach: int, seed: int) -> None:
    procedure = HearingProcedure({point: reach for point in POINTS}, random.Random(seed))
    it = iter(answers * 400)
    count, shown = run(procedure, lambda step: next(it))
    assert count <= len(POINTS) * (MAX_PRESENTATIONS + 1)
    most = max(FLOOR_DB_HL, min(reach, SAFETY_CAP_DB_HL) // 5 * 5)
    levels = [s["db_hl"] for s in shown if s["db_hl"] is not None]
    assert all(isinstance(level, int) and FLOOR_DB_HL <= level <= most for level in levels)
    assert all(PAUSE_MS[0] <= int(str(s["pause_ms"])) <= PAUSE_MS[1] for s in shown)
    done, total = procedure.progress()
    assert done == total == count
    assert sum(r.false_alarms for r in procedure.results()) <= procedure.catch_trials() <= len(POINTS)


def clicker(rng: random.Random) -> Listener:
    """Touches "I hear it" half the time, whatever is played."""
    return lambda step: rng.random() < 0.5


def test_a_random_clicker_is_flagged_unreliable() -> None:
    flagged = 0
    for seed in range(200):
        procedure = HearingProcedure({point: MOST for point in POINTS}, random.Random(seed))
        run(procedure, clicker(random.Random(10_000 + seed)))
        results = procedure.results()
        flagged += not all(r.reliable for r in results)
        assert procedure.catch_trials() >= 1
    assert flagged >= 195  # a clicker answers a silent presentation sooner or later


def test_the_same_seed_presents_the_same_run() -> None:
    listener = threshold_listener(dict.fromkeys(POINTS, 25))
    first = run(HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(7)), listener)
    second = run(HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(7)), listener)
    assert first == second and first[0] > len(POINTS)


def test_a_catch_trial_heard_is_a_false_alarm_that_marks_its_point() -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(3))
    base = threshold_listener(dict.fromkeys(POINTS, 20))
    run(procedure, lambda step: True if step["db_hl"] is None and step["ear"] == "left" else base(step))
    results: tuple[TrackResult, ...] = procedure.results()
    assert all(r.reliable == (r.ear == "right") for r in results)
    assert all(r.threshold_db_hl == 20 for r in results)
    assert sum(r.false_alarms for r in results) == 4 == procedure.catch_trials() // 2


@pytest.mark.parametrize("answer", [{}, {"heard": "yes"}, {"heard": 1}, {"heard": True, "extra": 1},
                                    {"heard": False, "early": True}, {"heard": True, "early": 1},
                                    {"heard": True, "step": "0"}, {"heard": True, "step": True},
                                    {"heard": True, "step": None}])
def test_a_malformed_answer_is_refused_and_changes_nothing(answer: dict[str, object]) -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(1))
    before = procedure.next()
    with pytest.raises(ScreeningError) as refused:
        procedure.answer(answer)
    assert refused.value.code == "bad_answer" and procedure.next() == before and procedure.progress()[0] == 0


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(answers=st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=3), max_size=20))
def test_garbage_answers_raise_only_the_screening_s_error_and_change_nothing(answers: list[dict[str, object]]) -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(5))
    before = procedure.next()
    for answer in answers:
        if set(answer) <= {"heard", "early", "step"} and isinstance(answer.get("heard"), bool):
            continue  # perhaps a well-formed answer: not garbage (the malformed ones are above)
        with pytest.raises(ScreeningError):
            procedure.answer(answer)
    assert procedure.next() == before and procedure.progress()[0] == 0


def test_a_touch_before_the_tone_is_a_false_alarm_and_the_tone_comes_again() -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(2))
    before = procedure.next()
    assert before is not None and before["db_hl"] == 40
    procedure.answer({"heard": True, "early": True, "step": 0})
    again = procedure.next()
    assert again is not None and (again["ear"], again["hz"], again["db_hl"]) == ("right", 1000, 40)  # not 30
    assert procedure.progress()[0] == 1 and procedure.catch_trials() == 1
    run(procedure, threshold_listener(dict.fromkeys(POINTS, 20)))
    results = procedure.results()
    assert results[0].false_alarms == 1 and not results[0].reliable and results[0].threshold_db_hl == 20
    assert all(r.reliable for r in results[1:])


def test_an_eager_patient_touching_before_every_tone_ends_within_the_cap_unreliable() -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(4))
    count = 0
    while procedure.next() is not None:
        assert count < len(POINTS) * (MAX_PRESENTATIONS + 1)
        procedure.answer({"heard": True, "early": True, "step": count})
        count += 1
    results = procedure.results()
    assert len(results) == len(POINTS) and all(r.threshold_db_hl is None and not r.reliable for r in results)
    assert procedure.progress() == (count, count)


def test_an_answer_for_an_earlier_presentation_is_stale_and_changes_nothing() -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(6))
    procedure.answer({"heard": True, "step": 0})
    now = procedure.next()
    for late in ({"heard": False, "step": 0}, {"heard": True, "step": 2}, {"heard": True, "early": True, "step": 0}):
        with pytest.raises(ScreeningError) as refused:
            procedure.answer(late)  # a timer of the first presentation, firing after it was answered
        assert refused.value.code == "stale" and procedure.next() == now and procedure.progress()[0] == 1
    procedure.answer({"heard": False, "step": 1})
    assert procedure.progress()[0] == 2


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.sampled_from(["heard", "missed", "early"]), min_size=1, max_size=400),
       seed=st.integers(0, 2**32 - 1))
def test_any_answers_with_early_touches_end_within_the_cap_and_count_each_answer_once(
        answers: list[str], seed: int) -> None:
    procedure = HearingProcedure(dict.fromkeys(POINTS, MOST), random.Random(seed))
    it = iter(answers * 400)
    count = 0
    while procedure.next() is not None:
        assert count < len(POINTS) * (MAX_PRESENTATIONS + 1)
        kind = next(it)
        procedure.answer({"heard": kind != "missed", "early": kind == "early", "step": count})
        count += 1
        assert procedure.progress()[0] == count
    done, total = procedure.progress()
    assert done == total == count
    results = procedure.results()
    assert sum(r.false_alarms for r in results) <= procedure.catch_trials()
    assert all(r.reliable is False for r in results if r.false_alarms)
