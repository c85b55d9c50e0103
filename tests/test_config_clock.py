"""The station clock: speed, start instant, real seconds (config/clock.py).

The tests give each Clock a hand-driven monotonic source through its constructor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.clock import PARIS, Clock


class FakeTime:
    """A monotonic source the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def monotonic(self) -> float:
        return self.value


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


START = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)


def test_monotonic_starts_at_zero_and_follows_real_time(fake_time: FakeTime) -> None:
    clock = Clock(start=START, source=fake_time.monotonic)
    assert clock.monotonic() == 0.0
    fake_time.value += 2.5
    assert clock.monotonic() == 2.5


def test_speed_scales_monotonic_and_now(fake_time: FakeTime) -> None:
    clock = Clock(speed=100.0, start=START, source=fake_time.monotonic)
    fake_time.value += 3.0
    assert clock.monotonic() == pytest.approx(300.0)
    assert clock.now() == START + timedelta(seconds=300)


def test_start_shifts_now(fake_time: FakeTime) -> None:
    clock = Clock(start=START, source=fake_time.monotonic)
    assert clock.now() == START
    fake_time.value += 60
    assert clock.now() == START + timedelta(minutes=1)


def test_now_is_aware_and_in_the_clock_zone(fake_time: FakeTime) -> None:
    clock = Clock(start=datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    now = clock.now()
    assert now.tzinfo is PARIS
    assert now.hour == 9  # 08:00 UTC is 09:00 in Paris in winter
    assert clock.zone is PARIS


def test_without_start_now_is_near_the_real_time() -> None:
    before = datetime.now(PARIS)
    now = Clock().now()
    assert now.tzinfo is not None
    assert before - timedelta(seconds=5) <= now <= datetime.now(PARIS) + timedelta(seconds=5)


def test_real_seconds() -> None:
    assert Clock(speed=1.0).real_seconds(30) == 30
    assert Clock(speed=1000.0).real_seconds(300) == pytest.approx(0.3)
    assert Clock(speed=0.5).real_seconds(10) == 20
    assert Clock(speed=10.0).real_seconds(-5) == 0.0


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError):
        Clock(speed=speed)


def test_monotonic_never_goes_backwards() -> None:
    clock = Clock(speed=1000.0)
    readings = [clock.monotonic() for _ in range(100)]
    assert readings == sorted(readings)


def test_set_speed_changes_pace_without_a_jump(fake_time: FakeTime) -> None:
    clock = Clock(speed=20.0, start=START, source=fake_time.monotonic)
    fake_time.value += 3.0
    assert clock.monotonic() == pytest.approx(60.0)
    clock.set_speed(1.0)
    assert clock.monotonic() == pytest.approx(60.0)
    fake_time.value += 3.0
    assert clock.monotonic() == pytest.approx(63.0)
    assert clock.now() == START + timedelta(seconds=63)
    with pytest.raises(ValueError):
        clock.set_speed(0)
