"""A PostgreSQL server for the tests, from Debian's `postgresql` package: one per test session, in a
temporary directory, on 127.0.0.1 at a free port, with a fresh database for each test.

PostgreSQL refuses to run as root: as root (here and on CI) the server runs as the `postgres` user
the package creates, in a directory outside pytest's own (which only root may enter). Where the
server cannot start, the tests that need it skip saying why; CI sets NEED_POSTGRES, and there they
fail instead (as tests/test_fault_storage.py does for namespaces).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.processes import free_port

NEED_POSTGRES = "CABIN_TESTS_NEED_POSTGRES"
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


class CannotStart(Exception):
    """Why the server could not start."""


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries."""
    found = sorted(BIN_DIRS.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise CannotStart(f"Debian's postgresql is not installed (no {BIN_DIRS}/*/bin/pg_ctl; "
                          "`./bootstrap test` installs it)")
    return found[-1].parent


def _run(as_user: list[str], *command: str) -> None:
    done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise CannotStart(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()}")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and remove its files; CannotStart saying why it cannot."""
    bin_dir = _bin_dir()
    root = os.geteuid() == 0
    if root and shutil.which("runuser") is None:
        raise CannotStart("runuser (util-linux) is missing: PostgreSQL cannot run as root")
    as_user = ["runuser", "-u", SYSTEM_USER, "--"] if root else []
    base = Path(tempfile.mkdtemp(prefix="cabin-tests-postgres-", dir="/tmp" if root else None))
    try:
        if root:
            shutil.chown(base, SYSTEM_USER, SYSTEM_USER)
        data = base / "data"
        _run(as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", SYSTEM_USER, "-A", "trust", "-E", "UTF8",
             "--no-sync", "--no-instructions")
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -c fsync=off"
        _run(as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", options, "-w",
             "-t", "60", "start")
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
    except CannotStart as exc:
        log = base / "log"
        raise CannotStart(f"{exc}{'; its log: ' + log.read_text().strip() if log.exists() else ''}") from None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def skip_or_fail(why_not: str) -> None:
    """Skip, saying why; fail instead where NEED_POSTGRES is set (CI)."""
    if os.environ.get(NEED_POSTGRES):
        pytest.fail(f"{NEED_POSTGRES} is set, so the PostgreSQL tests must run here, but the server cannot "
                    f"start: {why_not}", pytrace=False)
    pytest.skip(f"no PostgreSQL server for the tests: {why_not}")
