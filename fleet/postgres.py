"""A PostgreSQL server from Debian's `postgresql` package, in a temporary directory, on 127.0.0.1 at a free port.

PostgreSQL refuses to run as root: as root the server runs as the `postgres` user the package creates,
in a directory that user may enter."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import psycopg
from sqlalchemy.engine import URL

from fleet.daemons import CannotStart, as_user, free_port, scratch

BIN_DIRS = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"


class PostgresServer:
    """A running server: `new_database()` makes an empty database and gives its URL."""

    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, database: str) -> URL:
        return URL.create("postgresql+psycopg", username=SYSTEM_USER, host="127.0.0.1", port=self.port,
                          database=database)

    def new_database(self) -> URL:
        name = f"hub_{uuid4().hex}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SYSTEM_USER, dbname="postgres",
                             autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries."""
    found = sorted(BIN_DIRS.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise CannotStart(f"Debian's postgresql is not installed (no {BIN_DIRS}/*/bin/pg_ctl; "
                          "`./bootstrap test` installs it)")
    return found[-1].parent


def _run(prefix: list[str], *command: str) -> None:
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise CannotStart(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()}")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and remove its files; CannotStart saying why it cannot."""
    bin_dir = _bin_dir()
    prefix = as_user(SYSTEM_USER)
    with scratch("cabin-postgres-", SYSTEM_USER) as base:
        try:
            data = base / "data"
            _run(prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SYSTEM_USER, "-A", "trust", "-E", "UTF8",
                 "--no-sync", "--no-instructions")
            port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -c fsync=off "
                       "-c max_connections=300")
            _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", options, "-w",
                 "-t", "60", "start")
            try:
                yield PostgresServer(port)
            finally:
                subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                               capture_output=True, timeout=60)
        except CannotStart as exc:
            log = base / "log"
            raise CannotStart(f"{exc}{'; its log: ' + log.read_text().strip() if log.exists() else ''}") from None
