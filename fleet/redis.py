"""A Redis server from Debian's `redis-server` package: the fleet's broker (docs/design.md, "A fleet of hubs"),
in memory only (no snapshot, no append-only file), on 127.0.0.1 at a free port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fleet.daemons import executable, free_port, running, scratch


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
    with scratch("cabin-redis-") as base:
        port, log = free_port(), base / "log"
        command = [program, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(base), "--save", "",
                   "--appendonly", "no", "--logfile", str(log), "--daemonize", "no", "--maxclients", "4000"]
        with running(command, port, "redis-server", log) as process:
            yield RedisServer(port, process)
