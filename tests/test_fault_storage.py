"""The state directory fills up mid-consultation, or comes up read-only.

Both are real: the station runs as a child process inside its own mount namespace, whose
state directory is a small tmpfs. Filling it gives SQLite a real ENOSPC, and remounting it
read-only a real EROFS (Linux refuses to remount a file system read-only under a process
that has files open for writing, so that case is a start, as after a boot that found the
disk damaged). The test talks to the station only through its kiosk API. Where the
namespaces cannot be made the tests skip, saying why; CI sets CABIN_TESTS_NEED_NAMESPACES,
and there they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from station.kiosk import KEY_COOKIE, START_PAGE

STATE_SIZE = "16m"
READY_S = 90.0
# Set by .ci/run: where the namespaces cannot be made, these tests fail rather than skip.
NEED_NAMESPACES = "CABIN_TESTS_NEED_NAMESPACES"


class MountNamespace:
    """A private mount namespace, held open by a sleeping process, with a tmpfs at `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True)
        # As root, a mount namespace alone; otherwise in a user namespace mapping us to root in it.
        user = [] if os.geteuid() == 0 else ["--map-root-user"]
        self._enter_user = [] if os.geteuid() == 0 else ["--user", "--preserve-credentials"]
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", *user, "sleep", "infinity"])
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < deadline, "unshare did not make a mount namespace"
            time.sleep(0.01)
        self.sh(f"mount -t tmpfs -o size={STATE_SIZE} tmpfs {state_dir}")

    def command(self, *argv: str) -> list[str]:
        """`argv` to run inside the namespace."""
        return ["nsenter", "-t", str(self.holder.pid), *self._enter_user, "--mount", f"--wd={os.getcwd()}", *argv]

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a shell script inside the namespace; it must succeed."""
        done = subprocess.run(self.command("sh", "-c", script), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        return done

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(timeout=10)


def namespaces_work() -> str:
    """'' if this machine lets the test make a mount namespace with a tmpfs, else why not."""
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is missing"
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    probe = subprocess.run(["unshare", "--mount", *user, "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True, text=True, timeout=30)
    return "" if probe.returncode == 0 else f"cannot mount a tmpfs in a mount namespace: {probe.stderr.strip()}"


def skip_without_namespaces() -> None:
    """Skip, saying why, where the namespaces cannot be made; fail instead where NEED_NAMESPACES is set (CI)."""
    why_not = namespaces_work()
    if why_not and os.environ.get(NEED_NAMESPACES):
        pytest.fail(f"{NEED_NAMESPACES} is set, so this test must run here, but it cannot: {why_not}. It needs "
                    "unshare and nsenter (util-linux), mount, and a kernel that lets this user make a mount "
                    "namespace: as root, CAP_SYS_ADMIN (not an unprivileged container); otherwise unprivileged "
                    "user namespaces (not restricted by sysctl, AppArmor or seccomp)", pytrace=False)
    if why_not:
        pytest.skip(why_not)


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[MountNamespace]:
    skip_without_namespaces()
    ns = MountNamespace(tmp_path / "state")
    try:
        yield ns
    finally:
        ns.close()


class Station:
    """`cabin run` in the namespace, its output collected; the kiosk API through urllib."""

    def __init__(self, ns: MountNamespace, *args: str) -> None:
        self.child = subprocess.Popen(
            ns.command(sys.executable, "-m", "station.cli", "run", "--state-dir", str(ns.state_dir), "--port", "0",
                       *args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self.api = ""
        self.key = ""

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Read the output until a line matches `pattern`."""
        assert self.child.stdout is not None
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            line = self.child.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.lines)}")

    def call(self, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.api}{path}", data=None if body is None else json.dumps(body).encode(),
                                         method="GET" if body is None else "POST",
                                         headers={"Cookie": f"{KEY_COOKIE}={self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as refused:
            return dict(json.loads(refused.read()))

    def state_becomes(self, *states: str, within_s: float = 30.0) -> dict[str, Any]:
        """Poll the kiosk view until the cabin is in one of `states`."""
        deadline = time.monotonic() + within_s
        while True:
            view = self.call("/api/state")
            if view["state"] in states:
                return view
            assert time.monotonic() < deadline, f"the cabin stayed {view['state']}, not {' or '.join(states)}"
            time.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM, wait, and everything it printed."""
        self.child.terminate()
        rest, _ = self.child.communicate(timeout=60)
        return "".join(self.lines) + rest


@contextmanager
def station(ns: MountNamespace, *args: str) -> Iterator[Station]:
    running = Station(ns, *args)
    try:
        running.api = running.wait_for(r"kiosk page: (http://[0-9.:]+)/").group(1)
        start_page = ns.sh(f"cat {ns.state_dir / START_PAGE}").stdout  # what the kiosk browser opens
        running.key = start_page.split("?key=", 1)[1].split('"', 1)[0]
        yield running
    finally:
        if running.child.poll() is None:
            running.stop()


# Printed in groups ("K7QX-M4PA"); the first is valid at once, the next may open later.
CODE_LINE = r"booking code ([2-9A-Z]{4}-[2-9A-Z]{4}) for \d\d:\d\d, valid (?:now|from \d\d:\d\d) until"


def test_a_full_state_directory_stops_new_patients_keeps_the_mark_and_recovers(namespace: MountNamespace) -> None:
    with station(namespace, "--sim", "--patients", "0", "--hub-port", "0") as cabin:
        first = cabin.wait_for(CODE_LINE).group(1)
        admitted = cabin.call("/api/checkin", {"code": first})
        name = str(admitted["name"])
        cabin.call("/api/identity", {"confirm": True})
        cabin.call("/api/consent", {"accepted": True})
        cabin.state_becomes("waiting_for_doctor")
        second = cabin.wait_for(CODE_LINE).group(1)  # once the first is used

        namespace.sh(f"dd if=/dev/zero of={namespace.state_dir}/filler bs=64k 2>/dev/null || true")
        cabin.call("/api/leave", {})
        view = cabin.state_becomes("out_of_service")
        assert "disk is full" in view["out_of_service_reason"]
        assert "no space left" in view["out_of_service_reason"]
        assert "session" not in view and name.split()[-1] not in json.dumps(view)

        refused = cabin.call("/api/checkin", {"code": second})
        assert refused["error"] == "out_of_service" and "disk is full" in refused["message"]

        namespace.sh(f"rm {namespace.state_dir}/filler")
        # The simulated referent starts cleaning as soon as it is due: either state shows the mark kept.
        view = cabin.state_becomes("awaiting_cleaning", "cleaning", within_s=60.0)
        assert view["cleaning_required"] is True
        output = cabin.stop()
    assert "Traceback" not in output
    assert "state storage failed, the cabin takes no new patient" in output
    assert "state storage works again; the cleaning mark is set" in output


def test_a_read_only_state_directory_says_so_and_keeps_the_mark(namespace: MountNamespace) -> None:
    with station(namespace, "--sim", "--patients", "0", "--hub-port", "0") as cabin:
        code = cabin.wait_for(CODE_LINE).group(1)
        cabin.call("/api/checkin", {"code": code})
        cabin.call("/api/identity", {"confirm": True})
        cabin.state_becomes("eligibility")
        cabin.child.kill()  # a crash with the patient inside: the mark is on disk
        cabin.child.wait(timeout=30)

    namespace.sh(f"mount -o remount,ro {namespace.state_dir}")
    refused = subprocess.run(namespace.command(sys.executable, "-m", "station.cli", "run", "--state-dir",
                                               str(namespace.state_dir), "--port", "0"),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr + refused.stdout
    assert f"the file system of {namespace.state_dir} is mounted read-only" in refused.stderr

    namespace.sh(f"mount -o remount,rw {namespace.state_dir}")
    with station(namespace) as cabin:
        view = cabin.state_becomes("awaiting_cleaning")
        assert view["cleaning_required"] is True


def test_ci_fails_rather_than_skips_where_the_namespaces_cannot_be_made(tmp_path: Path) -> None:
    """With no unshare on the PATH, the storage tests skip with the reason, or fail with it under CI's variable."""
    storage = ["-k", "state_directory", "-p", "no:cacheprovider", __file__]

    def pytest_without_unshare(**env: str) -> subprocess.CompletedProcess[str]:
        bare = {k: v for k, v in os.environ.items() if k != NEED_NAMESPACES} | {"PATH": str(tmp_path), **env}
        return subprocess.run([sys.executable, "-m", "pytest", *storage], capture_output=True, text=True,
                              env=bare, timeout=120)

    local = pytest_without_unshare()
    assert local.returncode == 0, local.stdout
    assert "2 skipped" in local.stdout and "unshare (util-linux) is missing" in local.stdout
    ci = pytest_without_unshare(**{NEED_NAMESPACES: "1"})
    assert ci.returncode == 1, ci.stdout
    assert "2 errors" in ci.stdout  # at the fixture, before the test
    assert f"{NEED_NAMESPACES} is set, so this test must run here, but it cannot: unshare (util-linux) is missing" \
        in ci.stdout
