"""The station's SQLite database: one file under the state directory, one writer thread.

Every component that persists something (cabin state and cleaning mark, audit trail,
appointments, print jobs) owns its own tables in this one file and goes through
`Database.run`, which executes on a single dedicated thread so that an fsync never
blocks the event loop and writes are serialised without locks.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from runtime.errors import StationError

T = TypeVar("T")

DB_NAME = "cabin.sqlite3"


class StorageError(StationError):
    """The state database cannot be opened, read or written."""


def connect(path: Path) -> sqlite3.Connection:
    """Open `path` with the durability settings the cleaning mark needs (WAL, synchronous=FULL)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the state database {path}: {exc}{why_not_writable(path.parent)}") from exc
    return conn


def why_not_writable(directory: Path) -> str:
    """What keeps `directory` from taking writes, as a clause for an error message ('' if nothing known).

    SQLite only says "unable to open database file" or "attempt to write a readonly
    database"; the technician needs to know which of these it is.
    """
    try:
        fs = os.statvfs(directory)
    except OSError:
        return ""
    if fs.f_flag & os.ST_RDONLY:
        return f" (the file system of {directory} is mounted read-only)"
    if fs.f_bavail == 0 or fs.f_favail == 0:
        return f" (no space left on the file system of {directory})"
    if not os.access(directory, os.W_OK):
        return f" ({directory} is not writable by this user)"
    return ""


class Database:
    """The station's database, used from asyncio through one worker thread."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Open the database file on the worker thread."""
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, connect, self.path)

    async def stop(self) -> None:
        """Close the database; safe to call twice."""
        conn, executor = self._conn, self._executor
        self._conn, self._executor = None, None
        if executor is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the database thread; SQLite and OS errors become StorageError."""
        if self._conn is None or self._executor is None:
            raise StorageError("the state database is not open")
        conn = self._conn

        def call() -> T:
            try:
                return fn(conn)
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"state database {self.path}: {exc}{why_not_writable(self.path.parent)}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An immediate write transaction: committed on success, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
