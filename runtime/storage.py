"""The station's SQLite database: one file under the state directory, one writer thread.

Every component that persists something (cabin state and cleaning mark, audit trail,
appointments, print jobs) keeps its rows in this one file and goes through `Database.run`,
which executes on a single dedicated thread so that an fsync never blocks the event loop
and writes are serialised without locks. The tables are not created by the components:
opening the file brings it to the latest schema version (`runtime.schema`), one committed
step at a time, and refuses a file written by a newer station.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from runtime.errors import StationError
from runtime.schema import MIGRATIONS, Migration

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_NAME = "cabin.sqlite3"


class StorageError(StationError):
    """The state database cannot be opened, read or written."""


def make_state_dir(state_dir: Path) -> None:
    """Create the state directory if it is missing, readable by its owner only whatever the umask.

    It holds the cleaning mark, the audit trail, badge hashes and, until check-in, bookings'
    personal data (docs/design.md, "Data and security"). An existing directory is left as it is.
    """
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def connect(path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> sqlite3.Connection:
    """Open `path` with the durability the cleaning mark needs (WAL, synchronous=FULL), at the latest schema."""
    try:
        make_state_dir(path.parent)
        if not path.exists():
            create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(_cannot_open(path, exc)) from exc
    try:
        _prepare(conn, path, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open `path` for reading only, changing nothing: no schema step, no journal mode, no file created.

    Beside a running station (its WAL file is there) SQLite reads through the WAL as usual. Without
    one, nothing writes the file: it is opened immutable, so that SQLite creates no -wal or -shm
    file, even in a directory that takes writes (docs/design.md, "Data and security").
    """
    wal = path.with_name(path.name + "-wal")
    mode = "ro" if wal.exists() else "ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode={mode}", uri=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot read the state database {path}: {exc}") from exc
    return conn


def create_private(path: Path) -> None:
    """An empty database file, 0600 whatever the umask: SQLite gives its -wal and -shm files the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass  # another process made it first


def replace_file(path: Path, data: bytes, mode: int, *, group: int = -1,
                 check: Callable[[Path], None] | None = None) -> None:
    """Replace `path` by `data` at once: written beside it with its final mode (whatever the umask)
    and `group`, fsynced, given to `check` (which raises to leave `path` as it was), renamed over
    it, its directory fsynced. A reader sees the old file or the new one, never half of one.
    OSError as the system gives it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            os.fchown(out.fileno(), -1, group)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _prepare(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        # Checked before the first write: a newer station's file is refused untouched, journal mode included.
        schema_version(conn, path, len(migrations))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(_cannot_open(path, exc)) from exc
    migrate(conn, path, migrations)
    try:
        # Only after the last step: a step that rebuilds a table needs them off (see runtime.schema).
        conn.execute("PRAGMA foreign_keys=ON")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(_cannot_open(path, exc)) from exc


def _cannot_open(path: Path, exc: BaseException) -> str:
    return f"cannot open the state database {path}: {exc}{why_not_writable(path.parent)}"


def schema_version(conn: sqlite3.Connection, path: Path, latest: int) -> int:
    """The file's schema version; StorageError when it is newer than `latest`, the newest this code knows."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > latest:
        raise StorageError(
            f"the state database {path} has schema version {found}, newer than version {latest} that this "
            "station knows: it was left untouched; run the station software that wrote it, or a newer one"
        )
    return found


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Apply the steps the file lacks, in order, each committed with its version bump."""
    try:
        found = schema_version(conn, path, len(migrations))
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(_cannot_open(path, exc)) from exc
    for step in migrations[found:]:
        if _apply(conn, path, step, len(migrations)):
            log.info("state database %s: schema step %s applied (%s)", path, step.version, step.summary)


def _apply(conn: sqlite3.Connection, path: Path, step: Migration, latest: int) -> bool:
    """One step and its version in one transaction: a crash or an error leaves the previous version whole."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            return _run_step(conn, path, step, latest)
        except BaseException:
            _rollback(conn)
            raise
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(_step_failed(path, step, f"{exc}{why_not_writable(path.parent)}")) from exc


def _run_step(conn: sqlite3.Connection, path: Path, step: Migration, latest: int) -> bool:
    # Read again under the write lock: another process (`cabin status` beside a station that is
    # starting) may have applied this step since, and a second ALTER TABLE would fail.
    found = schema_version(conn, path, latest)
    if found >= step.version:
        conn.execute("ROLLBACK")
        return False
    adopting = found == 0 and _has_tables(conn)
    for statement in _statements(step.sql):
        conn.execute(statement)
    problem = (_adoption_problem(conn, step.sql) if adopting else "") or _foreign_key_problem(conn)
    if problem:
        raise StorageError(_step_failed(path, step, problem))
    conn.execute(f"PRAGMA user_version = {step.version}")
    conn.execute("COMMIT")
    return True


def _statements(sql: str) -> Iterator[str]:
    """A script's statements one by one (executescript() would commit the step's transaction first)."""
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        # SQLite's own tokenizer: a ';' inside a string, a comment or a trigger's body ends nothing.
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                yield pending
            pending = ""
    if pending.strip(" \t\n;"):
        yield pending


def _step_failed(path: Path, step: Migration, why: str) -> str:
    return (f"cannot upgrade the state database {path}: step {step.version} ({step.summary}) failed, "
            f"the file stays at version {step.version - 1}: {why}")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rolling back a failed schema step failed; SQLite undoes it at the next open")


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone() is not None


def _columns(conn: sqlite3.Connection) -> dict[str, set[str]]:
    tables = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )]
    return {table: {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')} for table in tables}


def _adoption_problem(conn: sqlite3.Connection, sql: str) -> str:
    """Why a file from before versions is not step 1's schema ('' when it is).

    Step 1 only creates what is missing, so a table of another shape would pass it unnoticed
    and fail later, in the middle of a consultation; it is refused here instead.
    """
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(sql)
        expected = _columns(reference)
    finally:
        reference.close()
    found = _columns(conn)
    missing = [f"{table}.{column}" for table, columns in sorted(expected.items())
               for column in sorted(columns - found.get(table, set()))]
    return f"columns missing from a file written before schema versions: {', '.join(missing)}" if missing else ""


def _foreign_key_problem(conn: sqlite3.Connection) -> str:
    rows = conn.execute("PRAGMA foreign_key_check").fetchall()
    return f"{len(rows)} rows break a foreign key, first in table {rows[0][0]}" if rows else ""


def why_not_writable(directory: Path) -> str:
    """What keeps `directory` from taking writes, as a clause for an error message ('' if nothing known).

    SQLite only says "unable to open database file" or "attempt to write a readonly
    database"; the technician needs to know which of these it is.
    """
    if directory.exists() and not directory.is_dir():
        return f" ({directory} is not a directory)"
    try:
        fs = os.statvfs(directory)
    except OSError:
        return ""
    if fs.f_flag & os.ST_RDONLY:
        return f" (the file system of {directory} is mounted read-only)"
    # Some file systems (btrfs) have no inode table and report 0 free inodes of 0: not a full disk.
    if fs.f_bavail == 0 or (fs.f_files > 0 and fs.f_favail == 0):
        return f" (no space left on the file system of {directory})"
    if not os.access(directory, os.W_OK):
        return f" ({directory} is not writable by this user)"
    return ""


class Database:
    """The station's database, used from asyncio through one worker thread."""

    def __init__(self, state_dir: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        numbers = [step.version for step in migrations]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"schema migrations must be numbered 1, 2, 3... in order, not {numbers}")
        self.path = Path(state_dir) / DB_NAME
        self._migrations = tuple(migrations)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Open the database file on the worker thread and bring it to the latest schema version."""
        if self._conn is not None:
            return
        executor = self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(
                executor, connect, self.path, self._migrations
            )
        except BaseException:
            # A refused start is not a started component: nobody will stop() it, so the thread goes now.
            self._executor = None
            executor.shutdown(wait=False)
            raise

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
