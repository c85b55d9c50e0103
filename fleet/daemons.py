"""What every daemon of a local fleet shares: a free port, a scratch directory its user may enter, the user it
runs as (PostgreSQL and coturn refuse root), and running it until it is no longer needed: started, waited for
until it listens, stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CannotStart(Exception):
    """Why a daemon could not start (the package missing, its own error, its log)."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on now (TCP, or UDP with `socket.SOCK_DGRAM`)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def as_user(user: str) -> list[str]:
    """The command prefix that runs a daemon as `user` when we are root (nothing otherwise)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise CannotStart(f"runuser (util-linux) is missing: the daemon cannot run as {user} instead of root")
    return ["runuser", "-u", user, "--"]


@contextmanager
def scratch(prefix: str, owner: str | None = None) -> Iterator[Path]:
    """A new directory for one daemon's files, owned by `owner` when we are root (outside pytest's own
    temporary directories, which only root may enter); removed on the way out."""
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if root and owner else None))
    try:
        if root and owner:
            shutil.chown(base, owner, owner)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def executable(name: str, package: str) -> str:
    """The path of a daemon's program, or CannotStart naming the Debian package that brings it."""
    for where in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if where and os.access(where, os.X_OK):
            return where
    raise CannotStart(f"{name} is missing: Debian's {package} package brings it (`./bootstrap test` installs it)")


def wait_listening(port: int, process: subprocess.Popen[bytes] | None, what: str, log: Path | None = None,
                   timeout_s: float = 30.0) -> None:
    """Return once 127.0.0.1:`port` accepts TCP connections; CannotStart if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise CannotStart(f"{what} exited with status {process.returncode}{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise CannotStart(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s{_tail(log)}")


@contextmanager
def running(command: list[str], port: int, what: str, log: Path, *,
            output_to_log: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command`, yield its process once it listens on 127.0.0.1:`port`, stop it on the way out;
    CannotStart if it exits first or does not listen in time. Its output goes to `log` when `output_to_log`,
    else nowhere (it writes `log` itself). It runs in its own session: a Ctrl-C at the terminal reaches only
    whoever started it, who stops the daemons after what depends on them."""
    if output_to_log:
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    else:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        wait_listening(port, process, what, log)
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a daemon, and kill it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = log.read_text(errors="replace").strip().splitlines()[-5:]
    return "; its log ends: " + " | ".join(lines) if lines else ""
