"""The badge reader component against the pty simulator: one call per presentation, faults ignored."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from config.devices import Rdm6300Config
from drivers.badge_reader import BadgeReader
from runtime.backoff import Backoff
from runtime.clock import Clock
from sim.serial_devices import SimRdm6300

REFERENT = "0A1B2C3D4E"
TECHNICIAN = "0F9E8D7C6B"


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=5.0)


@asynccontextmanager
async def rig(clock: Clock) -> AsyncIterator[tuple[SimRdm6300, BadgeReader, list[str]]]:
    sim = SimRdm6300(clock)
    await sim.start()
    presented: list[str] = []

    async def sink(tag_id: str) -> None:
        presented.append(tag_id)

    reader = BadgeReader(Rdm6300Config(driver="rdm6300", port=sim.path), clock, sink)
    try:
        await reader.start()
        await wait_until(lambda: reader.connected)
        yield sim, reader, presented
    finally:
        await reader.stop()
        await sim.stop()


async def test_a_badge_held_for_2_s_is_one_presentation(clock: Clock) -> None:
    async with rig(clock) as (sim, reader, presented):
        await sim.present(REFERENT, hold_s=2.0)
        await clock.sleep(1.0)
        assert sim.frames_sent >= 15
        assert presented == [REFERENT]
        health = reader.health()
        assert health.connected and health.last_error is None and health.last_reading_host_time is not None


async def test_taken_away_and_back_or_another_badge_are_new_presentations(clock: Clock) -> None:
    async with rig(clock) as (sim, _reader, presented):
        await sim.present(REFERENT, hold_s=0.5)
        await clock.sleep(1.0)
        await sim.present(REFERENT, hold_s=0.5)
        await sim.present(TECHNICIAN, hold_s=0.5)
        await wait_until(lambda: len(presented) == 3)
        assert presented == [REFERENT, REFERENT, TECHNICIAN]


async def test_garbage_and_corrupt_frames_are_ignored_and_reported(clock: Clock) -> None:
    async with rig(clock) as (sim, reader, presented):
        sim.inject_garbage(b"\x00\xffnoise\x03")
        sim.corrupt_frames()
        await sim.present(REFERENT, hold_s=0.5)
        await wait_until(lambda: reader.bad_frames >= 3)
        assert presented == []
        assert reader.garbage_bytes >= 8
        assert "bad badge frame" in (reader.health().last_error or "")
        sim.corrupt_frames(False)
        await sim.present(REFERENT, hold_s=0.5)
        await wait_until(lambda: presented == [REFERENT])


async def test_a_slow_sink_does_not_split_a_presentation(clock: Clock) -> None:
    sim = SimRdm6300(clock)
    await sim.start()
    presented: list[str] = []

    async def slow_sink(tag_id: str) -> None:
        await clock.sleep(1.5)  # longer than the debounce hold: the reader keeps reading meanwhile
        presented.append(tag_id)

    reader = BadgeReader(Rdm6300Config(driver="rdm6300", port=sim.path), clock)
    reader.sink = slow_sink  # set after construction, as the composition root does
    try:
        await reader.start()
        await wait_until(lambda: reader.connected)
        await sim.present(REFERENT, hold_s=2.0)
        await wait_until(lambda: presented == [REFERENT])
        await clock.sleep(2.0)
        assert presented == [REFERENT] and reader.presentations == 1
    finally:
        await reader.stop()
        await sim.stop()


async def test_unplugged_reader_is_reported_and_comes_back(clock: Clock) -> None:
    async with rig(clock) as (sim, reader, presented):
        sim.disconnect()
        await wait_until(lambda: not reader.connected)
        await wait_until(lambda: "missing" in (reader.health().last_error or ""))
        sim.reconnect()
        await wait_until(lambda: reader.connected)
        await sim.present(TECHNICIAN, hold_s=0.3)
        await wait_until(lambda: presented == [TECHNICIAN])


async def test_stalled_reader_sends_nothing(clock: Clock) -> None:
    async with rig(clock) as (sim, reader, presented):
        sim.stall()
        await sim.present(REFERENT, hold_s=0.5)
        await clock.sleep(0.5)
        assert presented == [] and reader.connected


async def test_a_failing_sink_does_not_stop_the_reader(clock: Clock) -> None:
    sim = SimRdm6300(clock)
    await sim.start()
    calls: list[str] = []

    async def failing_sink(tag_id: str) -> None:
        calls.append(tag_id)
        raise RuntimeError("boom")

    reader = BadgeReader(Rdm6300Config(driver="rdm6300", port=sim.path), clock, failing_sink)
    try:
        await reader.start()
        await wait_until(lambda: reader.connected)
        await sim.present(REFERENT, hold_s=0.3)
        await clock.sleep(1.0)
        await sim.present(TECHNICIAN, hold_s=0.3)
        await wait_until(lambda: calls == [REFERENT, TECHNICIAN])
    finally:
        await reader.stop()
        await reader.stop()
        await sim.stop()


async def test_a_reader_that_is_not_plugged_in_starts_and_is_opened_once_plugged(
    clock: Clock, tmp_path: Path
) -> None:
    path = str(tmp_path / "usb-1a86_USB_Serial-if00-port0")
    reader = BadgeReader(Rdm6300Config(driver="rdm6300", port=path), clock, backoff=Backoff(3600.0, 3600.0))
    await reader.start()  # an absent reader is no reason to fail: it is shown, and opened when it comes
    try:
        health = reader.health()
        assert not health.connected
        assert health.last_error == f"{path} is missing (unplugged, or wrong port in the configuration)"
        sim = SimRdm6300(clock, name=os.path.basename(path), link_dir=str(tmp_path))
        await sim.start()
        try:
            reader.device_changed(path)  # the watcher's news: its hour of backoff is cut short
            await wait_until(lambda: reader.connected, 2.0)
        finally:
            await sim.stop()
    finally:
        await reader.stop()
