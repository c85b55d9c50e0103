"""The entry lock against the pty relay board: frames received, state re-sent after a replug, fail-safe stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from config.schema import SerialDeviceConfig
from drivers.entry_lock import EntryLock
from drivers.lcus import RelayCommand
from drivers.serial_link import SerialPortError
from runtime.clock import Clock
from runtime.errors import StationError
from sim.serial_devices import SimLcus


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


async def test_relay_frames_reach_the_board_and_stop_releases() -> None:
    clock = Clock(speed=5.0)
    board = SimLcus(clock, channels=2)
    await board.start()
    lock = EntryLock(SerialDeviceConfig(driver="lcus", port=board.path, channel=2), clock)
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
    lock = EntryLock(SerialDeviceConfig(driver="lcus", port=board.path, channel=1), clock)
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
    lock = EntryLock(SerialDeviceConfig(driver="lcus", port=board.path), clock)
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


async def test_configuration_errors() -> None:
    clock = Clock()
    with pytest.raises(StationError, match="entry_lock.port"):
        await EntryLock(SerialDeviceConfig(driver="lcus"), clock).start()
