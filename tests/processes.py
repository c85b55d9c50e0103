"""Helpers for tests that run a long-lived `cabin` command in a child process: no tests here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class Stopped:
    """What a child said until the awaited line (that line last, newlines stripped), then up to its exit."""

    seen: list[str]
    out: str
    err: str
    returncode: int

    @property
    def output(self) -> str:
        """All its standard output."""
        return "".join(f"{line}\n" for line in self.seen) + self.out


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_until(args: Sequence[str], prefix: str, *, interpreter: Sequence[str] = (), stop: int = signal.SIGTERM,
              stderr: int | IO[str] = subprocess.PIPE) -> Stopped:
    """`python [interpreter] -m station.cli ARGS` until a line starts with `prefix`, then `stop` and wait.

    The child runs unbuffered (its stdout is a pipe); it is killed if anything goes wrong. With
    `stderr` a file (a long `-X importtime` report would fill a pipe), `err` is left empty.
    """
    child = subprocess.Popen([sys.executable, *interpreter, "-m", "station.cli", *args], stdout=subprocess.PIPE,
                             stderr=stderr, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith(prefix):
                break
        child.send_signal(stop)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return Stopped(seen, out, err or "", child.returncode)
