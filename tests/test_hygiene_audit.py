"""The audit trail: hash chain, verification, append-only triggers, CSV export (hygiene/audit.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hygiene.audit import GENESIS, AuditEntry, AuditTrail, audit_key, entry_hash, verify_entries, write_csv
from hygiene.keys import read_secret
from runtime.clock import PARIS
from runtime.storage import Database, StorageError

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)


@pytest.fixture
async def trail(db: Database) -> AuditTrail:
    t = AuditTrail(db)
    await t.start()
    return t


async def fill(trail: AuditTrail, n: int = 4) -> list[AuditEntry]:
    return [
        await trail.append(T0 + timedelta(minutes=i), f"s{i}", "cleaning_confirmed", step=i, who="referent")
        for i in range(n)
    ]


def key_of(db: Database) -> bytes:
    """The chain's key of the station whose database this is."""
    return audit_key(read_secret(db.path.parent))


def raw_connection(db: Database) -> sqlite3.Connection:
    """A second connection to the same file, as someone tampering with it would open."""
    return sqlite3.connect(db.path, isolation_level=None)


async def test_entries_chain_to_the_previous_hash(db: Database, trail: AuditTrail) -> None:
    written = await fill(trail)
    assert [e.seq for e in written] == [1, 2, 3, 4]
    assert written[0].prev == GENESIS
    for before, after in zip(written, written[1:], strict=False):
        assert after.prev == before.hash
    for e in written:
        assert e.hash == entry_hash(key_of(db), e.prev, e.seq, e.at, e.session, e.event, e.detail)
    assert await trail.entries() == written


async def test_detail_is_stored_as_sorted_json(trail: AuditTrail) -> None:
    entry = await trail.append(T0, "s1", "mark_set", zeta=1, alpha="é")
    assert entry.detail == '{"alpha":"é","zeta":1}'
    assert entry.at == T0.isoformat()


async def test_intact_trail_verifies(trail: AuditTrail) -> None:
    await fill(trail, 5)
    result = await trail.verify()
    assert result.ok and result.entries == 5 and result.broken is None


async def test_empty_trail_verifies(trail: AuditTrail) -> None:
    result = await trail.verify()
    assert result.ok and result.entries == 0


async def test_chain_continues_across_restarts(tmp_path: Path) -> None:
    for round_ in range(2):
        database = Database(tmp_path)
        await database.start()
        t = AuditTrail(database)
        await t.start()
        await t.append(T0, f"s{round_}", "started")
        await database.stop()
    database = Database(tmp_path)
    await database.start()
    t = AuditTrail(database)
    await t.start()
    entries = await t.entries()
    assert [e.seq for e in entries] == [1, 2]
    assert entries[1].prev == entries[0].hash
    assert (await t.verify()).ok
    await database.stop()


async def test_edited_detail_is_detected_at_its_entry(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    entries[2] = replace(entries[2], detail='{"step":99,"who":"referent"}')
    result = verify_entries(entries, key_of(db))
    assert not result.ok
    assert result.broken is not None and result.broken.seq == 3
    assert "edited" in result.reason


async def test_edited_time_is_detected(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    entries[1] = replace(entries[1], at=(T0 - timedelta(days=1)).isoformat())
    result = verify_entries(entries, key_of(db))
    assert result.broken is not None and result.broken.seq == 2


async def test_edit_with_recomputed_hash_breaks_the_next_entry(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    e = entries[1]
    forged = replace(e, event="forged")
    forged = replace(forged, hash=entry_hash(key_of(db), e.prev, e.seq, e.at, e.session, "forged", e.detail))
    entries[1] = forged
    result = verify_entries(entries, key_of(db))
    assert result.broken is not None and result.broken.seq == 3
    assert "previous" in result.reason


async def test_deleted_entry_is_a_sequence_gap(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    del entries[1]
    result = verify_entries(entries, key_of(db))
    assert result.broken is not None and result.broken.seq == 3
    assert "sequence" in result.reason


async def test_deleted_first_entry_is_detected(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    result = verify_entries(entries[1:], key_of(db))
    assert result.broken is not None and result.broken.seq == 2


async def test_reordered_entries_are_detected(db: Database, trail: AuditTrail) -> None:
    entries = await fill(trail)
    entries[1], entries[2] = entries[2], entries[1]
    result = verify_entries(entries, key_of(db))
    assert result.broken is not None and result.broken.seq == 3


async def test_update_is_refused_by_the_trigger(db: Database, trail: AuditTrail) -> None:
    await fill(trail)
    with pytest.raises(StorageError) as info:
        await db.run(lambda c: c.execute("UPDATE audit SET detail = '{}' WHERE seq = 2"))
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert "append-only" in str(info.value)
    assert (await trail.verify()).ok


async def test_delete_is_refused_by_the_trigger(db: Database, trail: AuditTrail) -> None:
    await fill(trail)
    with pytest.raises(StorageError):
        await db.run(lambda c: c.execute("DELETE FROM audit WHERE seq = 2"))
    conn = raw_connection(db)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("DELETE FROM audit")
    finally:
        conn.close()
    assert len(await trail.entries()) == 4


async def test_tampering_that_bypasses_the_triggers_is_caught_by_verify(db: Database, trail: AuditTrail) -> None:
    await fill(trail)
    conn = raw_connection(db)
    try:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("""UPDATE audit SET detail = '{"step":7,"who":"referent"}' WHERE seq = 2""")
    finally:
        conn.close()
    result = await trail.verify()
    assert result.broken is not None and result.broken.seq == 2

    conn = raw_connection(db)
    try:
        conn.execute("DELETE FROM audit WHERE seq = 2")
    finally:
        conn.close()
    result = await trail.verify()
    assert result.broken is not None and result.broken.seq == 3


async def test_entries_since_filters_by_time(trail: AuditTrail) -> None:
    await fill(trail, 4)
    since = (T0 + timedelta(minutes=2)).isoformat()
    assert [e.seq for e in await trail.entries(since=since)] == [3, 4]


async def test_write_csv_header_and_rows(trail: AuditTrail) -> None:
    entries = await fill(trail, 3)
    out = io.StringIO()
    assert write_csv(entries, out) == 3
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["seq", "at", "session", "event", "detail", "hash"]
    assert rows[1:] == [[str(e.seq), e.at, e.session, e.event, e.detail, e.hash] for e in entries]


def test_write_csv_empty_has_only_the_header() -> None:
    out = io.StringIO()
    assert write_csv([], out) == 0
    assert out.getvalue().splitlines() == ["seq,at,session,event,detail,hash"]


async def test_latest_entries_of_one_event_newest_first(trail: AuditTrail) -> None:
    for i in range(7):
        await trail.append(T0 + timedelta(minutes=2 * i), "-", "cleaning_cleared", steps=i)
        await trail.append(T0 + timedelta(minutes=2 * i + 1), f"s{i}", "cleaning_mark_set")
    latest = await trail.latest("cleaning_cleared", 5)
    assert [e.detail for e in latest] == [f'{{"steps":{i}}}' for i in (6, 5, 4, 3, 2)]
    assert await trail.latest("nothing_like_it", 5) == []


def rewind(db: Database, seq: int, to: datetime) -> None:
    """Set entry `seq`'s time to `to` behind the triggers and chain every hash again from there,
    as a station whose clock went back would have written it."""
    conn = raw_connection(db)
    try:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET at = ? WHERE seq = ?", (to.isoformat(), seq))
        rows = conn.execute("SELECT seq, at, session, event, detail, prev FROM audit WHERE seq >= ? ORDER BY seq",
                            (seq,)).fetchall()
        prev = rows[0][5]
        for s, at, session, event, detail, _ in rows:
            digest = entry_hash(key_of(db), prev, s, at, session, event, detail)
            conn.execute("UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", (prev, digest, s))
            prev = digest
    finally:
        conn.close()


async def test_a_time_that_goes_back_is_a_finding_named_with_its_seq(db: Database, trail: AuditTrail) -> None:
    await fill(trail, 4)
    await trail.append(T0 + timedelta(minutes=3), "s3", "mark_cleared")  # the same instant is no finding
    assert (await trail.verify()).ok
    rewind(db, 3, T0 - timedelta(hours=1))
    result = await trail.verify()
    assert result.broken is not None and result.broken.seq == 3
    assert result.reason == f"its time goes back before the previous entry's ({(T0 + timedelta(minutes=1)).isoformat()})"
    assert await trail.last_time() == T0 + timedelta(minutes=3)


async def test_an_offset_change_is_not_a_time_going_back(trail: AuditTrail) -> None:
    """At the end of summer time the wall clock shows 02:30 twice; the offsets keep the order."""
    summer = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    winter = summer.replace(fold=1)
    await trail.append(summer, "s1", "mark_set")
    await trail.append(winter, "s1", "mark_cleared")
    assert (await trail.verify()).ok


def test_cabin_audit_verify_reports_a_backwards_time(tmp_path: Path) -> None:
    async def write() -> Database:
        db = Database(tmp_path)
        await db.start()
        try:
            trail = AuditTrail(db)
            await trail.start()
            await fill(trail, 3)
        finally:
            await db.stop()
        return db

    db = asyncio.run(write())
    rewind(db, 2, T0 - timedelta(days=2))
    verify = subprocess.run([sys.executable, "-m", "station.cli", "audit", "verify", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 1
    assert f"audit trail BROKEN at entry 2 ({(T0 - timedelta(days=2)).isoformat()}, cleaning_confirmed)" in verify.stderr
    assert "its time goes back before the previous entry's" in verify.stderr
    assert "Traceback" not in verify.stderr + verify.stdout
