"""The entry lock against the pty relay board: frames received, state re-sent after a replug, fail-safe stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.devices import MAX_RELAY_CHANNEL, LcusConfig
from drivers.entry_lock import EntryLock
from drivers.lcus import MAX_CHANNEL, RelayCommand
from drivers.serial_link import SerialPortError
from runtime.clock import Clock
from sim.serial_devices import SimLcus


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_relay_frames_reach_the_board_and_stop_releases() -> None:
    clock = Clock(speed=5.0)
    board = SimLcus(clock, channels=2)
    await board.start()
    lock = EntryLock(LcusConfig(driver="lcus", port=board.path, channel=2), clock)
    try:
        await lock.start()
        await wait_until(lambda: lock.connected)
        await wait_until(lambda: list(board.received) == [RelayCommand(2, False)])  # a known state on open
        await lock.engage()
        await wait_until(lambda: board.relay(2))
        assert lock.engaged and not board.relay(1)
        await lock.release()
        await wait_until(lambda: not board.relay(2))
        await lock.engage()
        await wait_until(lambda: board.relay(2))
        await lock.stop()  # fail-safe: a stopped station leaves the door free
        await lock.stop()
        await wait_until(lambda: not board.relay(2))
        assert board.received[-1] == RelayCommand(2, False)
    finally:
        await lock.stop()
        await board.stop()


async def test_engaged_state_is_sent_again_after_a_replug() -> None:
    clock = Clock(speed=5.0)
    board = SimLcus(clock)
    await board.start()
    lock = EntryLock(LcusConfig(driver="lcus", port=board.path, channel=1), clock)
    try:
        await lock.start()
        await wait_until(lambda: lock.connected)
        await lock.engage()
        await wait_until(lambda: board.relay(1))
        board.disconnect()  # unplugged: the relay is unpowered, the door free
        assert not board.relay(1)
        await wait_until(lambda: not lock.connected)
        with pytest.raises(SerialPortError, match="not connected; it will be engaged"):
            await lock.engage()
        assert lock.health().last_error is not None
        board.reconnect()
        await wait_until(lambda: board.relay(1))  # re-asserted on reconnection
    finally:
        await lock.stop()
        await board.stop()


async def test_stalled_or_noisy_board() -> None:
    clock = Clock(speed=5.0)
    board = SimLcus(clock)
    await board.start()
    lock = EntryLock(LcusConfig(driver="lcus", port=board.path), clock)
    try:
        await lock.start()
        await wait_until(lambda: lock.connected)
        board.inject_garbage()  # most boards answer nothing; noise back must not matter
        board.stall()
        await lock.engage()
        await clock.sleep(0.5)
        assert not board.relay(1)  # a hung board ignores the command
        board.stall(False)
        await lock.engage()
        await wait_until(lambda: board.relay(1))
        assert lock.connected
    finally:
        await lock.stop()
        await board.stop()


def test_the_configuration_is_checked_before_any_device_is_built() -> None:
    with pytest.raises(ValidationError, match="set a port or a USB identity"):
        LcusConfig(driver="lcus")
    with pytest.raises(ValidationError, match="less than or equal to 8"):
        LcusConfig(driver="lcus", port="/dev/ttyUSB0", channel=9)
    assert MAX_RELAY_CHANNEL == MAX_CHANNEL


async def test_a_board_that_is_not_plugged_in_is_named_and_the_door_state_kept(tmp_path: Path) -> None:
    clock = Clock()
    path = str(tmp_path / "usb-1a86_USB2.0-Serial-if00-port0")
    lock = EntryLock(LcusConfig(driver="lcus", port=path), clock)
    await lock.start()  # an absent board is no reason to fail: it is shown, and retried
    try:
        assert not lock.health().connected
        assert lock.health().last_error == f"{path} is missing (unplugged, or wrong port in the configuration)"
        with pytest.raises(SerialPortError, match=f"entry lock on {path} is not connected; it will be engaged"):
            await lock.engage()
    finally:
        await lock.stop()
