"""The serial adapter and its reconnect loop, on real pseudo-terminals."""

from __future__ import annotations

import asyncio
import os
import pty
import tty
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.discovery import Locator, WatchTarget
from drivers.serial_link import Reconnector, SerialLink, SerialPortError
from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.errors import StationError


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def pair() -> tuple[int, str]:
    """A pty: the master fd (the "device") and the slave path the link opens."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


async def test_read_write_close(pair: tuple[int, str]) -> None:
    master, path = pair
    link = SerialLink(path, 9600)
    assert not link.is_open
    await link.open()
    await link.open()  # idempotent
    assert link.is_open
    os.write(master, b"\x02hello")
    assert await link.read() == b"\x02hello"
    await link.write(b"\xa0\x01\x01\xa2")
    await asyncio.sleep(0.05)
    assert os.read(master, 100) == b"\xa0\x01\x01\xa2"
    await link.close()
    await link.close()
    assert not link.is_open
    await link.open()  # the same link opens again
    os.write(master, b"again")
    assert await link.read() == b"again"
    await link.close()
    os.close(master)


async def test_a_write_waits_while_the_device_does_not_read(pair: tuple[int, str]) -> None:
    master, path = pair
    link = SerialLink(path, 115200)
    await link.open()
    payload = bytes(range(256)) * 1024  # 256 KiB: far more than a pty buffers
    writing = asyncio.create_task(link.write(payload))
    await asyncio.sleep(0.1)
    assert not writing.done()  # held back: the OS refused part of it
    os.set_blocking(master, False)
    received = bytearray()
    async with asyncio.timeout(10):
        while len(received) < len(payload):
            try:
                received += os.read(master, 65536)
            except BlockingIOError:
                await asyncio.sleep(0.001)
    await writing
    assert bytes(received) == payload
    await link.close()
    os.close(master)


async def test_missing_port_names_the_path() -> None:
    link = SerialLink("/dev/serial/by-id/usb-nothing-here", 115200)
    with pytest.raises(SerialPortError, match="/dev/serial/by-id/usb-nothing-here is missing"):
        await link.open()
    assert isinstance(SerialPortError("x"), StationError)


async def test_not_a_serial_port_names_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "plain-file")
    (tmp_path / "plain-file").touch()
    with pytest.raises(SerialPortError, match=f"cannot open serial port {path}"):
        await SerialLink(path, 9600).open()


async def test_unplug_while_reading_is_a_port_error(pair: tuple[int, str]) -> None:
    master, path = pair
    link = SerialLink(path, 9600)
    await link.open()
    os.close(master)  # the device goes away
    with pytest.raises(SerialPortError, match=path):
        async with asyncio.timeout(2):
            await link.read()
    assert not link.is_open
    with pytest.raises(SerialPortError):
        await link.write(b"x")
    await link.close()


async def test_reconnector_retries_with_backoff_until_the_port_appears(tmp_path: Path) -> None:
    clock = Clock(speed=20.0)
    path = str(tmp_path / "ttyUSB0")
    problems: list[str] = []
    sessions: list[SerialLink] = []

    async def session(link: SerialLink) -> None:
        sessions.append(link)
        await link.read()

    locator = Locator(WatchTarget("relay", "tty", port=path))
    reconnector = Reconnector(locator, 9600, clock, Backoff(0.5, 2.0), on_down=problems.append)
    await reconnector.start(session, first_attempt_s=2.0)
    try:
        assert problems == [f"{path} is missing (unplugged, or wrong port in the configuration)"]  # tried once
        await wait_until(lambda: len(problems) >= 3)
        assert all("is missing" in p for p in problems)
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.symlink(os.ttyname(slave), path)  # plugged in, the way udev adds a by-id link
        await wait_until(lambda: bool(sessions) and reconnector.link is not None)
        os.write(master, b"data")
        await wait_until(lambda: problems[-1].endswith("session ended"))  # the session read once and returned
        os.close(master)
        os.close(slave)
    finally:
        await reconnector.stop(2.0)
        await reconnector.stop(2.0)
    assert not reconnector.running


async def test_a_wake_ends_a_long_backoff_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "ttyUSB0")
    problems: list[str] = []
    opened = asyncio.Event()

    async def session(link: SerialLink) -> None:
        opened.set()
        await link.read()

    backoff = Backoff(3600.0, 3600.0)  # an hour between attempts
    reconnector = Reconnector(Locator(WatchTarget("relay", "tty", port=path)), 9600, Clock(), backoff,
                              on_down=problems.append)
    await reconnector.start(session, first_attempt_s=2.0)
    master, slave = pty.openpty()
    try:
        assert len(problems) == 1  # the first attempt failed: now it waits its hour
        os.symlink(os.ttyname(slave), path)
        reconnector.wake()  # what the device watcher's news does
        await asyncio.wait_for(opened.wait(), 2.0)
    finally:
        await reconnector.stop(2.0)
        os.close(master)
        os.close(slave)
