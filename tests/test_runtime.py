"""The shared building blocks: one task owner, one retry policy."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.tasks import TaskSet


def test_backoff_doubles_up_to_its_limit_and_starts_over_after_a_reset() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_backoff_jitter_stays_within_its_share_of_the_delay() -> None:
    backoff = Backoff(10.0, 10.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next() for _ in range(200)]
    assert all(5.0 <= d <= 10.0 for d in delays)
    assert max(delays) - min(delays) > 3.0  # spread, not one value


@pytest.mark.parametrize("args", [(0.0, 1.0), (2.0, 1.0), (1.0, 2.0, 0.5), (1.0, 2.0, 2.0, 1.5)])
def test_backoff_refuses_settings_that_cannot_work(args: tuple[float, ...]) -> None:
    initial, limit, *rest = args
    factor = rest[0] if rest else 2.0
    jitter = rest[1] if len(rest) > 1 else 0.0
    with pytest.raises(ValueError):
        Backoff(initial, limit, factor=factor, jitter=jitter)


async def test_a_wake_ends_the_pause_at_once_and_resets_the_delays() -> None:
    backoff = Backoff(30.0, 60.0)
    backoff.next()
    started = time.monotonic()
    pause = asyncio.create_task(backoff.pause())
    await asyncio.sleep(0.05)
    backoff.wake()
    await asyncio.wait_for(pause, 2.0)
    assert time.monotonic() - started < 2.0
    assert backoff.next() == 30.0


async def test_a_wake_before_the_pause_makes_the_next_pause_return_at_once() -> None:
    backoff = Backoff(30.0, 60.0)
    backoff.wake()
    await asyncio.wait_for(backoff.pause(), 1.0)


async def test_a_pause_follows_the_station_clock() -> None:
    backoff = Backoff(100.0, 100.0)
    started = time.monotonic()
    await backoff.pause(Clock(speed=1000.0))
    assert time.monotonic() - started < 2.0


async def test_a_failed_task_is_logged_with_its_traceback_and_cancel_all_stops_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet("unit", logging.getLogger("tests.unit"))

    async def fail() -> None:
        raise RuntimeError("a bug")

    forever = tasks.spawn(asyncio.sleep(3600), "forever")
    with caplog.at_level(logging.ERROR):
        failing = tasks.spawn(fail(), "fail")
        await asyncio.wait([failing])
        await asyncio.sleep(0)
    failure = next(r for r in caplog.records if "unit-fail" in r.getMessage())
    assert failure.levelno == logging.ERROR and failure.exc_info is not None
    assert len(tasks) == 1 and forever.get_name() == "unit-forever"
    await tasks.cancel_all(timeout_s=1.0)
    assert forever.cancelled() and len(tasks) == 0
    await tasks.cancel_all()  # idempotent
