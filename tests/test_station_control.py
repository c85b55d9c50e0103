"""The state directory's lock and the station's local control channel, on real files and sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.loader import load_config
from runtime.clock import Clock
from runtime.errors import StationError
from station.hardware import Hardware
from station.local_control import SOCKET_NAME, LocalControl, ask_station, peer_allowed, unix_address
from station.state_lock import LOCK_NAME, StateDirBusy, StateDirLock


def test_the_lock_is_one_holder_at_a_time_and_names_the_directory_and_its_holder(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = StateDirLock(state_dir)
    assert first.acquire() and first.held
    lock_file = state_dir / LOCK_NAME
    assert lock_file.read_text() == f"{os.getpid()}\n" and stat.S_IMODE(lock_file.stat().st_mode) == 0o600
    second = StateDirLock(state_dir)  # another open file: flock refuses it, even in the same process
    for create in (True, False):
        with pytest.raises(StateDirBusy) as refused:
            second.acquire(create=create)
        assert str(refused.value) == (f"the state directory {state_dir} is in use by another cabin process "
                                      f"(pid {os.getpid()}): one station per state directory")
    first.release()
    first.release()  # idempotent
    with second:
        assert second.held
    assert not second.held


def test_probing_a_directory_no_station_used_makes_nothing(tmp_path: Path) -> None:
    assert StateDirLock(tmp_path / "never").acquire(create=False) is False
    assert not (tmp_path / "never").exists()
    (tmp_path / "empty").mkdir()
    assert StateDirLock(tmp_path / "empty").acquire(create=False) is False
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_state_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StationError, match=r"^cannot lock the state directory .*/file/state: "):
        StateDirLock(tmp_path / "file" / "state").acquire()


@pytest.fixture(params=["short", "long"])
def state_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A state directory whose socket path fits sun_path, and one that does not."""
    path = tmp_path / ("d" * 120 if request.param == "long" else "s")
    path.mkdir()
    assert (len(str(path / SOCKET_NAME)) > 108) == (request.param == "long")
    return path


@pytest.fixture
async def control(state_dir: Path) -> AsyncIterator[LocalControl]:
    """The channel over the packaged configuration's hardware, not started (its devices are absent here)."""
    busy = [True]
    channel = LocalControl(state_dir, Hardware(load_config(), Clock()), busy=lambda: busy[0])
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


async def ask(path: Path, line: bytes) -> dict[str, object]:
    """Send one raw line on the socket and read the answer."""
    with unix_address(path) as address:
        reader, writer = await asyncio.open_unix_connection(address)
    try:
        writer.write(line)
        await writer.drain()
        answer: dict[str, object] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


async def test_the_socket_is_the_station_users_only(control: LocalControl) -> None:
    assert stat.S_ISSOCK(control.path.stat().st_mode) and stat.S_IMODE(control.path.stat().st_mode) == 0o600
    assert peer_allowed(1000, 1000) and peer_allowed(0, 1000)
    assert not peer_allowed(1001, 1000)


async def test_a_patient_in_means_health_without_self_tests(control: LocalControl, state_dir: Path) -> None:
    rows = await asyncio.to_thread(ask_station, state_dir)
    assert [row["device_id"] for row in rows] == ["thermometer-1", "bp-cuff-1", "oximeter-1", "scale-1",
                                                  "otoscope-1", "audiometer-1", "badge_reader", "entry_lock"]
    assert [row["self_test"] for row in rows[:6]] == [{"ok": None, "detail": "a consultation is in progress"}] * 6


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"hello\n", "bad request: a request is one line of JSON"),
        (b'{"v": 1, "ask": "shutdown"}\n', "bad request: unknown request 'shutdown'"),
        (b'{"v": 2, "ask": "diag"}\n', 'bad request: a request is {"v": 1, "ask": ...}'),
        (b"[" * 3000 + b"\n", "bad request: a request is one line of JSON"),
        (b"x" * 10000 + b"\n", "bad request: "),
    ],
)
async def test_bad_requests_get_a_clear_error_and_the_channel_goes_on(control: LocalControl, line: bytes,
                                                                      error: str) -> None:
    answer = await ask(control.path, line)
    assert answer["v"] == 1 and str(answer["error"]).startswith(error), answer
    answer = await ask(control.path, b'{"v": 1, "ask": "diag"}\n')
    assert isinstance(answer["devices"], list)


async def test_stopping_removes_the_socket_and_diag_then_says_so(control: LocalControl, state_dir: Path) -> None:
    await control.stop()
    await control.stop()  # idempotent
    assert not control.path.exists()
    with pytest.raises(StationError, match=f"^the station running in {state_dir} does not answer on "):
        ask_station(state_dir)


async def test_a_socket_left_by_a_killed_station_is_replaced(state_dir: Path) -> None:
    with unix_address(state_dir / SOCKET_NAME) as address, socket.socket(socket.AF_UNIX) as stale:
        stale.bind(address)  # bound, never listening: what a SIGKILL leaves
    channel = LocalControl(state_dir, Hardware(load_config(), Clock()), busy=lambda: True)
    await channel.start()
    try:
        assert len(await asyncio.to_thread(ask_station, state_dir)) == 8
    finally:
        await channel.stop()


async def test_a_station_that_cannot_test_says_why_in_one_line(state_dir: Path) -> None:
    channel = LocalControl(state_dir, Hardware(load_config(), Clock()), busy=lambda: False)
    await channel.start()
    try:
        with pytest.raises(StationError) as refused:
            await asyncio.to_thread(ask_station, state_dir)
    finally:
        await channel.stop()
    assert str(refused.value) == f"the station running in {state_dir} says: the instruments are not started"
