"""The near-vision screening: optotype sizes, the screen's limit, the procedure, the reading."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.devices import KioskScreeningConfig
from config.loader import ConfigError, load_config, vehicle_config_path
from devices.measurements import EyeAcuity, NearVision
from devices.optotype import (
    DIRECTIONS,
    LEVELS,
    ChartGeometry,
    NearVisionProcedure,
    decimal_acuity,
    letter_height_mm,
    logmar,
)
from devices.screening import ScreeningError
from devices.validation import validate
from devices.vision import VisionChart
from runtime.clock import Clock

KIOSK_22 = ChartGeometry(476.6, 268.1, 1920, 550.0)  # a 22" 16:9 1920x1080 screen at 55 cm
FINE = ChartGeometry(344.2, 193.6, 3840, 400.0)  # a 15.6" 4K screen at 40 cm: draws P1.5


def test_the_parinaud_sizes_follow_the_definition() -> None:
    # P1 subtends 5' at 25 cm (Cahiers d'Ophtalmologie 218, 2018): 0.364 mm; Pn is n times it.
    assert letter_height_mm(1, 400) == pytest.approx(0.3636, abs=1e-4)  # on the card, read at 40 cm
    assert letter_height_mm(2, 400) == pytest.approx(0.727, abs=1e-3)
    assert letter_height_mm(4, 800) == pytest.approx(2 * letter_height_mm(4, 400))
    assert decimal_acuity(2) == pytest.approx(0.8) and logmar(2) == pytest.approx(0.097, abs=1e-3)
    assert decimal_acuity(4) == pytest.approx(0.4) and decimal_acuity(1.5) == pytest.approx(1.07, abs=0.01)


def test_a_22_inch_kiosk_at_55_cm_draws_p3_at_best() -> None:
    assert KIOSK_22.shown_levels() == (28, 20, 14, 10, 8, 6, 5, 4, 3)
    assert KIOSK_22.stroke_px(3) >= 1 > KIOSK_22.stroke_px(2)
    assert "P28 to P3" in KIOSK_22.describe() and FINE.shown_levels()[-1] == 1.5


def run(procedure: NearVisionProcedure, acuity: dict[str, float], rng: random.Random) -> int:
    """Answer as eyes of the given Parinaud acuity: right down to it, a coin toss one level below, then unsure."""
    shown = 0
    while (step := procedure.next()) is not None:
        level = float(step["level"])  # type: ignore[arg-type]
        threshold = acuity[str(step["eye"])]
        below = LEVELS.index(level) - LEVELS.index(threshold)
        if below <= 0 or (below == 1 and rng.random() < 0.5):
            direction = step["orientation"]
        else:
            direction = "unsure"
        procedure.answer({"direction": direction})
        shown += 1
    return shown


@settings(max_examples=60, deadline=None)
@given(right=st.sampled_from(LEVELS), left=st.sampled_from(LEVELS), seed=st.integers(0, 2**32),
       geometry=st.sampled_from([KIOSK_22, FINE]))
def test_a_reader_ends_within_one_level_of_each_eye_or_at_the_screen_limit(
        right: float, left: float, seed: int, geometry: ChartGeometry) -> None:
    rng = random.Random(seed)
    procedure = NearVisionProcedure(geometry, random.Random(seed + 1))
    shown = run(procedure, {"right": right, "left": left}, rng)
    assert shown <= procedure.progress()[1] and procedure.progress()[0] == shown
    smallest = geometry.shown_levels()[-1]
    for result, acuity in zip(procedure.results, (right, left), strict=True):
        assert result.level is not None
        expected = max(acuity, smallest)
        assert abs(LEVELS.index(result.level) - LEVELS.index(expected)) <= 1
        assert result.level >= smallest  # never a level that was not shown
        assert result.limit_reached == (result.level == smallest and smallest != 1.5)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), unsure=st.booleans())
def test_a_guesser_does_not_pass_small_levels(seed: int, unsure: bool) -> None:
    rng = random.Random(seed)
    procedure = NearVisionProcedure(KIOSK_22, random.Random(seed + 1))
    while procedure.next() is not None:
        procedure.answer({"direction": "unsure" if unsure else rng.choice(DIRECTIONS)})
    assert all(r.level is None or r.level >= 8 for r in procedure.results)
    assert procedure.progress()[0] <= procedure.progress()[1]


def test_an_eye_that_reads_nothing_has_no_level_and_a_malformed_answer_is_refused() -> None:
    procedure = NearVisionProcedure(KIOSK_22, random.Random(3))
    first = procedure.next()
    with pytest.raises(ScreeningError) as bad:
        procedure.answer({"direction": "sideways"})
    assert bad.value.code == "bad_answer" and procedure.next() == first
    assert first is not None and first["eye"] == "right" and first["level"] == 10
    assert math.isclose(float(first["size_mm"]), KIOSK_22.size_mm(10), abs_tol=1e-3)  # type: ignore[arg-type]
    procedure.answer({"direction": "unsure", "step": 0})
    second = procedure.next()
    with pytest.raises(ScreeningError) as stale:  # a second touch on the first E, arriving late
        procedure.answer({"direction": "unsure", "step": 0})
    assert stale.value.code == "stale" and procedure.next() == second and procedure.progress()[0] == 1
    while procedure.next() is not None:
        procedure.answer({"direction": "unsure"})
    assert [(r.eye, r.level) for r in procedure.results] == [("right", None), ("left", None)]


def vision_config(**geometry: float) -> KioskScreeningConfig:
    keys = {"screen_width_mm": 476.6, "screen_height_mm": 268.1, "screen_width_px": 1920, "viewing_distance_mm": 550}
    return KioskScreeningConfig.model_validate({"id": "vision", "driver": "kiosk", "kind": "vision_chart",
                                                **keys, **geometry})


def test_the_configuration_needs_a_geometry_that_draws_something() -> None:
    assert vision_config().screen_width_px == 1920
    with pytest.raises(ValidationError, match="viewing_distance_mm"):
        KioskScreeningConfig.model_validate({"id": "v", "driver": "kiosk", "kind": "vision_chart",
                                             "screen_width_mm": 476.6, "screen_height_mm": 268.1,
                                             "screen_width_px": 1920})
    with pytest.raises(ValidationError, match="no Parinaud level"):
        vision_config(screen_width_px=320, screen_width_mm=3000, screen_height_mm=60)
    with pytest.raises(ValidationError, match="only a vision_chart"):
        KioskScreeningConfig.model_validate({"id": "h", "driver": "kiosk", "kind": "audiometer",
                                             "viewing_distance_mm": 500})


async def test_a_finished_run_gives_a_valid_near_vision_reading_in_parinaud() -> None:
    readings: list[NearVision] = []
    chart = VisionChart(vision_config(), lambda m: readings.append(m), Clock(),  # type: ignore[arg-type]
                        rng=random.Random(5))
    await chart.start()
    await chart.request_measurement()
    while (current := chart.current()) is not None:
        step = current["step"]
        assert isinstance(step, dict)
        correct = step["eye"] == "right" or float(step["level"]) >= 4
        chart.answer(str(current["run"]), {"direction": step["orientation"] if correct else "unsure"})
    [reading] = readings
    assert validate(reading) is None
    data = reading.to_json()
    assert data["screening"] is True and data["unit"] == "Parinaud" and data["smallest_shown"] == 3
    assert data["value"]["right"] == {"parinaud": 3, "decimal": 0.53, "logmar": 0.27, "limit_reached": True}
    assert data["value"]["left"] == {"parinaud": 4, "decimal": 0.4, "logmar": 0.4, "limit_reached": False}
    assert chart.describe().endswith("P28 to P3 (smaller would have strokes under 1 device pixel)")
    await chart.stop()


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.dictionaries(st.sampled_from(["direction", "step", "x"]),
                                        st.one_of(st.sampled_from([*DIRECTIONS, "unsure"]), st.integers(), st.none(),
                                                  st.text(max_size=5))), max_size=40))
def test_garbage_answers_are_refused_with_the_screenings_error_only(answers: list[dict[str, object]]) -> None:
    procedure = NearVisionProcedure(KIOSK_22, random.Random(1))
    for answer in answers:
        before = procedure.progress()[0]
        try:
            procedure.answer(answer)
        except ScreeningError:
            assert procedure.progress()[0] == before  # a refused answer changes nothing
    assert procedure.progress()[0] <= procedure.progress()[1]


def test_a_near_vision_reading_naming_a_level_the_screen_did_not_show_is_rejected() -> None:
    shown = EyeAcuity(parinaud=3.0, decimal=0.53, logmar=0.27, limit_reached=True)
    finer = EyeAcuity(parinaud=2.0, decimal=0.8, logmar=0.1, limit_reached=False)
    reading = NearVision(device_id="v", model="m", host_time=1.0, right=shown, left=finer, smallest_shown=3.0,
                         viewing_distance_mm=550.0)
    rejected = validate(reading)
    assert rejected is not None and rejected.rule == "vision_level_unknown"
    odd = NearVision(device_id="v", model="m", host_time=1.0, right=shown, left=shown, smallest_shown=2.5,
                     viewing_distance_mm=550.0)
    assert (rejected := validate(odd)) is not None and rejected.rule == "vision_level_unknown"


def test_on_board_the_touchscreen_runs_no_screening(tmp_path: Path) -> None:
    vision = """
[[devices]]
id = "vision"
kind = "vision_chart"
driver = "kiosk"
screen_width_mm = 476.6
screen_height_mm = 268.1
screen_width_px = 1920
viewing_distance_mm = 550
"""
    path = tmp_path / "vehicle.toml"
    path.write_text(vehicle_config_path().read_text(encoding="utf-8") + vision, encoding="utf-8")
    with pytest.raises(ConfigError, match="vision: on board the touchscreen is the waiting room's display"):
        load_config(path)
