"""A Redis server from Debian's `redis-server` package: the fleet's broker (docs/design.md, "A fleet of hubs"),
in memory only (no snapshot, no append-only file), on 127.0.0.1 at a free port."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fleet.daemons import executable, free_port, scratch, stop, wait_listening


@dataclass(frozen=True)
class RedisServer:
    """A running server and the URL hubs give as `[fleet] broker_url`."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a server, yield it, stop it and remove its files; CannotStart saying why it cannot."""
    program = executable("redis-server", "redis-server")
    base = scratch("cabin-redis-")
    log = base / "log"
    try:
        port = free_port()
        process = subprocess.Popen(
            [program, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(base), "--save", "",
             "--appendonly", "no", "--logfile", str(log), "--daemonize", "no", "--maxclients", "4000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, process, "redis-server", log)
            yield RedisServer(port, process)
        finally:
            stop(process)
    finally:
        shutil.rmtree(base, ignore_errors=True)
