"""Operations: systemd's notify protocol and the event-loop lag monitor."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.lag import LagMonitor
from station.notify import SystemdNotifier
from tests.conftest import eventually


def datagrams(server: socket.socket) -> list[str]:
    """Every notification waiting on the socket."""
    received = []
    while True:
        try:
            received.append(server.recv(4096).decode())
        except BlockingIOError:
            return received


async def test_the_notifier_says_ready_status_stopping_and_pings_the_watchdog(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.setblocking(False)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
        assert notifier.enabled and notifier.watchdog_s == 0.1
        await notifier.start()
        notifier.ready("cabin ready")
        notifier.status("awaiting cleaning")
        seen: list[str] = []
        await eventually(lambda: seen.extend(datagrams(server)) or seen.count("WATCHDOG=1") >= 3)
        await notifier.stop()
        seen += datagrams(server)
    assert "READY=1\nSTATUS=cabin ready" in seen
    assert "STATUS=awaiting cleaning" in seen
    assert seen[-1] == "STOPPING=1"


async def test_the_watchdog_belongs_to_the_process_systemd_named() -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_s is None


async def test_outside_systemd_the_notifier_does_nothing() -> None:
    notifier = SystemdNotifier({})
    await notifier.start()
    notifier.ready("ready")
    await notifier.stop()
    assert not notifier.enabled


async def test_a_blocked_loop_is_logged_with_the_code_that_blocked_it(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LagMonitor()
    await monitor.start()
    try:
        await asyncio.sleep(0.1)

        def hold_the_loop() -> None:
            time.sleep(0.3)

        asyncio.get_running_loop().call_soon(hold_the_loop)
        await eventually(lambda: monitor.stalls == 1)
    finally:
        await monitor.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("blocked for" in w and "hold_the_loop" in w for w in warnings), warnings
    assert monitor.percentile(1.0) >= 0.25
    assert monitor.percentile(0.5) < 0.1


# A process with a lag monitor on its loop, told to log to stdout; it ends after its first stall.
STALLED = """
import asyncio, logging, sys
from station.lag import LagMonitor

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")

async def main() -> None:
    monitor = LagMonitor()
    await monitor.start()
    print("ticking", flush=True)
    while monitor.stalls == 0:
        await asyncio.sleep(0.1)
    await monitor.stop()
    print("stalls", monitor.stalls, "waits", monitor.waits)

asyncio.run(main())
"""


def stopped_for_a_while() -> str:
    """The STALLED child's stdout after it was stopped (SIGSTOP) for half a second, then let go."""
    child = subprocess.Popen([sys.executable, "-c", STALLED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ticking\n"
        child.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        child.send_signal(signal.SIGCONT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    return out


def test_a_loop_kept_waiting_for_the_cpu_is_summarised_without_a_stack() -> None:
    # SIGSTOP takes the CPU away from the whole process, as a busy machine does: the loop thread
    # is left waiting in its selector's poll past its next tick. Rarely the stop lands while the
    # loop runs code (a tick): that stall is rightly reported as code, and the test stops it again.
    for _ in range(5):
        out = stopped_for_a_while()
        if out.splitlines()[-1] == "stalls 1 waits 1":
            break
    assert out.splitlines()[-1] == "stalls 1 waits 1", out
    assert "WARNING" not in out and "blocked" not in out, out  # no stall reported with a stack
    summary = [line for line in out.splitlines() if line.startswith("INFO the event loop waited")]
    assert len(summary) == 1 and "1 times for the CPU" in summary[0], out
