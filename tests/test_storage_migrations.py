"""Schema versions of the state database: fresh files, upgrades, refusals, crashes (runtime/storage.py).

tests/data/state-schema-0.sql is a real state database written by the station before schema
versions existed (user_version 0), dumped with sqlite3's .dump after one consultation:
cleaning mark set, ten audit entries, one printed prescription, two enrolled badges.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from hygiene.badges import BadgeRegistry, Role
from hygiene.store import CabinStore
from printer.errors import JobError
from printer.jobs import JobStatus, PrintJobs
from runtime.clock import PARIS, Clock
from runtime.schema import MIGRATIONS, Migration
from runtime.storage import DB_NAME, Database, StorageError, migrate
from session.appointments import AppointmentBook

DUMP = Path(__file__).parent / "data" / "state-schema-0.sql"
LATEST = len(MIGRATIONS)
SESSION = "715b1ee354dada61"
NUMBER = "NAN231-20261207-3M3ZB6NK"
REFERENT = "5ec7a6bedd177d6212f8dd27fe67e810afbdd965a87110a8bbbc40baaf26d3a9"
LAST_HASH = "27cd72a0ce85aec9e98ff9bbc0d916666ce8b1113e690f76d7574b6d4d80b4b8"
NOW = Clock(start=datetime(2026, 12, 7, 10, 0, tzinfo=PARIS))


def legacy_file(state_dir: Path) -> Path:
    """The previous schema's database, loaded from its dump into a fresh file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / DB_NAME
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(DUMP.read_text(encoding="utf-8"))
    return path


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def version_of(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def schema_of(path: Path) -> set[tuple[str, str, str]]:
    """Every table, index and trigger, with the SQL that made it."""
    with raw(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {(kind, name, sql) for kind, name, sql in rows}


def rows_of(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in rowid order."""
    with raw(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}


def files_of(state_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state_dir.iterdir())}


async def opened(state_dir: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> Database:
    db = Database(state_dir, migrations)
    await db.start()
    return db


def cabin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True, timeout=120)


async def test_the_dump_is_a_file_from_before_schema_versions(tmp_path: Path) -> None:
    path = legacy_file(tmp_path)
    assert version_of(path) == 0
    assert {"cabin_state", "audit", "badges", "appointments", "print_jobs"} <= set(rows_of(path))


async def test_the_previous_schema_keeps_its_cleaning_mark(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    db = await opened(tmp_path)
    try:
        record = await CabinStore(db).start()
    finally:
        await db.stop()
    assert record.cleaning_required is True
    assert (record.state, record.mark_session) == ("awaiting_cleaning", SESSION)
    assert record.mark_set_at == "2026-12-07T09:01:47.039640+01:00"
    assert version_of(tmp_path / DB_NAME) == LATEST


async def test_the_previous_schema_keeps_its_audit_chain_and_it_chains_on(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    db = await opened(tmp_path)
    try:
        trail = AuditTrail(db)
        await trail.start()
        before = await trail.verify()
        entry = await trail.append(NOW.now(), "-", "station_started", state="awaiting_cleaning")
        marker = (await trail.entries())[10]
        after = await trail.verify()
        with pytest.raises(StorageError, match="append-only"):
            await db.run(lambda c: c.execute("DELETE FROM audit WHERE seq = 1"))
    finally:
        await db.stop()
    assert before.ok and before.entries == 10 and before.unkeyed == 10
    # Its entries stay under the old rule; the chain goes on keyed from an `audit_keyed` entry.
    assert (marker.seq, marker.event, marker.prev) == (11, "audit_keyed", LAST_HASH)
    assert (entry.seq, entry.prev) == (12, marker.hash)
    assert after.ok and after.entries == 12 and after.unkeyed == 10


async def test_the_previous_schema_keeps_its_print_jobs_and_their_rules(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    db = await opened(tmp_path)
    try:
        jobs = PrintJobs(db, NOW)
        await jobs.start()
        printed = await jobs.get(1)
        live = await jobs.live_job(SESSION, NUMBER)
        with pytest.raises(JobError, match="has ended"):
            await jobs.reprint(1, SESSION)
        with pytest.raises(JobError, match="has ended"):
            await jobs.record(SESSION, NUMBER, b"again")
        with pytest.raises(JobError, match="belongs to another session"):
            await jobs.record("next-session", NUMBER, b"stolen")
        new = await jobs.record("next-session", "NAN231-20261207-NEXT0001", b"\x1b@next")
    finally:
        await db.stop()
    assert (printed.session_id, printed.number, printed.status, printed.size) == (
        SESSION, NUMBER, JobStatus.PRINTED, 1567)
    assert live == printed
    assert new.id == 2 and new.status is JobStatus.PENDING


def appointment_book(db: Database) -> AppointmentBook:
    return AppointmentBook(db, audit=AuditTrail(db), clock=Clock(), rules=CheckInRules())


async def test_the_previous_schema_keeps_its_badges_and_appointments(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    db = await opened(tmp_path)
    try:
        role = await BadgeRegistry(db, tmp_path).role_of(REFERENT)
        used = await appointment_book(db).find("596853")  # a code of the old format is still found
    finally:
        await db.stop()
    assert role is Role.HYGIENE_REFERENT
    assert used is not None and used.used_at == "2026-12-07T09:01:47.039640+01:00"
    assert used.patient_name == ""


async def test_the_upgrade_changes_no_row_and_ends_at_todays_schema(tmp_path: Path) -> None:
    path = legacy_file(tmp_path / "old")
    rows = rows_of(path)
    await (await opened(tmp_path / "old")).stop()
    await (await opened(tmp_path / "new")).stop()
    after = rows_of(path)
    # Columns a step adds come last: every row keeps what it held in the columns it had.
    widths = {table: len(held[0]) for table, held in rows.items() if held}
    assert {table: [row[:widths.get(table, len(row))] for row in after[table]] for table in rows} == rows
    assert [row[widths["appointments"]:] for row in after["appointments"]] == [("", "", "booked", 0)]
    assert {table: after[table] for table in after.keys() - rows.keys()} == dict.fromkeys(after.keys() - rows.keys(), [])
    assert schema_of(path) == schema_of(tmp_path / "new" / DB_NAME)


async def test_a_fresh_directory_gets_the_latest_version(tmp_path: Path) -> None:
    state_dir = tmp_path / "never-run"
    db = await opened(state_dir)
    try:
        record = await CabinStore(db).start()
        journal = await db.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        foreign_keys = await db.run(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0])
    finally:
        await db.stop()
    assert version_of(state_dir / DB_NAME) == LATEST
    assert (record.state, record.cleaning_required) == ("ready", False)
    assert (journal, foreign_keys) == ("wal", 1)
    kinds = {(kind, name) for kind, name, _ in schema_of(state_dir / DB_NAME)}
    assert {("trigger", "audit_no_update"), ("trigger", "audit_no_delete"), ("table", "print_closed_sessions"),
            ("index", "print_jobs_session"), ("table", "badges"), ("table", "appointments")} <= kinds


async def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    await (await opened(tmp_path)).stop()
    schema, rows = schema_of(tmp_path / DB_NAME), rows_of(tmp_path / DB_NAME)
    await (await opened(tmp_path)).stop()
    assert (schema_of(tmp_path / DB_NAME), rows_of(tmp_path / DB_NAME)) == (schema, rows)
    assert version_of(tmp_path / DB_NAME) == LATEST


async def test_a_step_runs_once_whatever_the_number_of_opens(tmp_path: Path) -> None:
    counted = (*MIGRATIONS, Migration(LATEST + 1, "a counter", "CREATE TABLE runs (n); INSERT INTO runs VALUES (1);"))
    for _ in range(3):
        await (await opened(tmp_path, counted)).stop()
    assert rows_of(tmp_path / DB_NAME)["runs"] == [(1,)]
    assert version_of(tmp_path / DB_NAME) == LATEST + 1


def test_a_step_another_process_applied_meanwhile_is_not_applied_again(tmp_path: Path) -> None:
    path = legacy_file(tmp_path)
    counted = (*MIGRATIONS, Migration(LATEST + 1, "badge sites", "ALTER TABLE badges ADD COLUMN site TEXT;"))
    raced: list[str] = []

    def other_process_first(statement: str) -> None:
        # Between this connection's reading of the version and its taking of the write lock.
        if statement == "BEGIN IMMEDIATE" and not raced:
            raced.append(statement)
            with raw(path) as other:
                migrate(other, path, counted)

    with raw(path) as late:
        late.set_trace_callback(other_process_first)
        migrate(late, path, counted)
    assert raced and version_of(path) == LATEST + 1
    assert len(rows_of(path)["badges"]) == 2


async def test_a_newer_database_is_refused_in_one_line_and_left_untouched(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    await (await opened(tmp_path)).stop()
    with raw(tmp_path / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 3}")
    before = files_of(tmp_path)
    db = Database(tmp_path)
    with pytest.raises(StorageError) as refused:
        await db.start()
    message = str(refused.value)
    assert str(tmp_path / DB_NAME) in message
    assert f"version {LATEST + 3}" in message and f"version {LATEST}" in message
    assert "\n" not in message
    assert files_of(tmp_path) == before
    with pytest.raises(StorageError, match="not open"):
        await CabinStore(db).load()
    await db.stop()


async def test_a_newer_database_keeps_even_its_journal_mode(tmp_path: Path) -> None:
    legacy_file(tmp_path)  # not in WAL mode: opening it for use would convert it
    with raw(tmp_path / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    before = files_of(tmp_path)
    with pytest.raises(StorageError, match="newer than"):
        await opened(tmp_path)
    assert files_of(tmp_path) == before


async def test_a_failed_step_names_itself_and_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    two = Migration(LATEST + 1, "notes for the technician", "CREATE TABLE notes (text TEXT NOT NULL);")
    broken = Migration(LATEST + 2, "split the badge labels",
                       "CREATE TABLE half (x); INSERT INTO notes VALUES ('half'); ALTER TABLE nowhere ADD COLUMN y;")
    with pytest.raises(StorageError) as failed:
        await opened(tmp_path, (*MIGRATIONS, two, broken))
    message = str(failed.value)
    assert f"step {LATEST + 2} (split the badge labels) failed" in message
    assert f"stays at version {LATEST + 1}" in message and "nowhere" in message
    assert str(tmp_path / DB_NAME) in message and "\n" not in message
    assert version_of(tmp_path / DB_NAME) == LATEST + 1
    tables = rows_of(tmp_path / DB_NAME)
    assert tables["notes"] == [] and "half" not in tables

    fixed = Migration(LATEST + 2, "split the badge labels", "ALTER TABLE badges ADD COLUMN site TEXT NOT NULL DEFAULT '';")
    await (await opened(tmp_path, (*MIGRATIONS, two, fixed))).stop()
    assert version_of(tmp_path / DB_NAME) == LATEST + 2


async def test_a_crash_in_the_middle_of_a_step_leaves_the_previous_version(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    # A real crash: the child process dies inside step 2's transaction, after its first statement.
    child = textwrap.dedent(f"""
        import os, sqlite3
        from pathlib import Path
        from runtime.schema import MIGRATIONS, Migration
        from runtime.storage import migrate
        path = Path({str(tmp_path / DB_NAME)!r})
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.create_function("crash", 0, lambda: os._exit(9))
        step = Migration({LATEST + 1}, "crashes", "CREATE TABLE half (x); DELETE FROM badges; SELECT crash();")
        migrate(conn, path, (*MIGRATIONS, step))
    """)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", child], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 9, done.stderr
    assert version_of(tmp_path / DB_NAME) == LATEST  # step 1 committed before the crash
    tables = rows_of(tmp_path / DB_NAME)
    assert "half" not in tables and len(tables["badges"]) == 2

    db = await opened(tmp_path)
    try:
        assert (await CabinStore(db).start()).mark_session == SESSION
        assert (await AuditTrail(db).verify()).entries == 10
    finally:
        await db.stop()


async def test_a_file_from_before_versions_with_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with raw(path) as conn:
        conn.execute("CREATE TABLE cabin_state (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
        conn.execute("INSERT INTO cabin_state VALUES (1, 'awaiting_cleaning')")
    with pytest.raises(StorageError) as refused:
        await opened(tmp_path)
    message = str(refused.value)
    assert "step 1" in message and "cabin_state.cleaning_required" in message and "cabin_state.mark_session" in message
    assert version_of(path) == 0
    assert set(rows_of(path)) == {"cabin_state"}


async def test_components_create_no_table_of_their_own(tmp_path: Path) -> None:
    db = await opened(tmp_path, ())
    try:
        for component in (AuditTrail(db), BadgeRegistry(db, tmp_path), PrintJobs(db, NOW)):
            await component.start()
        with pytest.raises(StorageError, match="no such table: cabin_state"):
            await CabinStore(db).start()
        with pytest.raises(StorageError, match="no such table: appointments"):  # it deletes no-shows at start
            await appointment_book(db).start()
        names = await db.run(lambda c: c.execute("SELECT name FROM sqlite_master").fetchall())
    finally:
        await db.stop()
    assert names == []


def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="numbered"):
        Database(tmp_path, (*MIGRATIONS, Migration(LATEST + 2, "skips one", "")))
    assert [step.version for step in MIGRATIONS] == list(range(1, LATEST + 1))


def test_cabin_status_and_audit_read_the_previous_schema(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    status = cabin("status", "--json", "--state-dir", str(tmp_path))
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert view["cleaning_required"] is True and view["resumes_in"] == "awaiting_cleaning"
    assert view["cleaning_mark"]["session"] == SESSION
    verify = cabin("audit", "verify", "--state-dir", str(tmp_path))
    assert verify.returncode == 0 and "intact: 10 entries" in verify.stdout


def test_cabin_status_refuses_a_newer_database_in_one_line(tmp_path: Path) -> None:
    legacy_file(tmp_path)
    with raw(tmp_path / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    status = cabin("status", "--state-dir", str(tmp_path))
    assert status.returncode == 1
    assert status.stderr.count("\n") == 1 and "Traceback" not in status.stderr
    assert f"{tmp_path / DB_NAME} has schema version {LATEST + 1}, newer than version {LATEST}" in status.stderr
    assert version_of(tmp_path / DB_NAME) == LATEST + 1
