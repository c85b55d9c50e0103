"""The audit trail: append-only entries, each chained to the previous one by SHA-256.

An entry's hash covers its sequence number, time, session, event and detail plus the hash
of the entry before it, so editing, deleting or reordering any entry breaks the chain at
that entry. SQLite triggers (runtime.schema) refuse UPDATE and DELETE; `verify` catches what bypassed them,
and an entry whose time goes back before the previous one's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from runtime.storage import Database, transaction

GENESIS = "0" * 64

@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    seq: int
    at: str
    session: str
    event: str
    detail: str
    prev: str
    hash: str


@dataclass(frozen=True)
class Verification:
    """The result of checking the chain: `broken` names the first bad entry, if any."""

    entries: int
    broken: AuditEntry | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when every entry is intact and in order."""
        return self.broken is None


def entry_hash(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    """The SHA-256 of an entry's content chained to the previous entry's hash."""
    body = json.dumps([prev, seq, at, session, event, detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append_entry(
    conn: sqlite3.Connection, at: datetime, session: str, event: str, detail: dict[str, object]
) -> AuditEntry:
    """Append one chained entry inside a write transaction."""
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    with transaction(conn):
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        stamp = at.isoformat()
        digest = entry_hash(prev, seq, stamp, session, event, text)
        conn.execute(
            "INSERT INTO audit (seq, at, session, event, detail, prev, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, stamp, session, event, text, prev, digest),
        )
    return AuditEntry(seq, stamp, session, event, text, prev, digest)


def read_entries(conn: sqlite3.Connection, since: str = "") -> list[AuditEntry]:
    """Every entry in order, optionally only those at or after the ISO time `since`."""
    rows = conn.execute(
        "SELECT seq, at, session, event, detail, prev, hash FROM audit WHERE at >= ? ORDER BY seq", (since,)
    ).fetchall()
    return [AuditEntry(*row) for row in rows]


def read_latest(conn: sqlite3.Connection, event: str, count: int) -> list[AuditEntry]:
    """The last `count` entries of one event, newest first (an index walk: the trail only grows)."""
    rows = conn.execute(
        "SELECT seq, at, session, event, detail, prev, hash FROM audit WHERE event = ? ORDER BY seq DESC LIMIT ?",
        (event, count),
    ).fetchall()
    return [AuditEntry(*row) for row in rows]


def read_last_time(conn: sqlite3.Connection) -> datetime | None:
    """The time of the last entry, None on an empty trail (or one whose last time is not a time)."""
    row = conn.execute("SELECT at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return _parse_time(str(row[0])) if row else None


def _parse_time(at: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(at)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def verify_entries(entries: Iterable[AuditEntry]) -> Verification:
    """Check the chain and the times from the first entry; stop at the first broken one.

    An entry's time may equal the previous one's but never be earlier: a trail whose clock went
    back cannot say in what order things happened (docs/design.md, "Data and security").
    """
    prev, expected_seq, count, prev_at = GENESIS, 1, 0, None
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return Verification(count, entry, f"sequence jumps from {expected_seq - 1} to {entry.seq}")
        if entry.prev != prev:
            return Verification(count, entry, "does not follow the previous entry")
        digest = entry_hash(entry.prev, entry.seq, entry.at, entry.session, entry.event, entry.detail)
        if digest != entry.hash:
            return Verification(count, entry, "content does not match its hash (edited)")
        at = _parse_time(entry.at)
        if at is None:
            return Verification(count, entry, f"its time {entry.at!r} is not a time with a UTC offset")
        if prev_at is not None and at < prev_at:
            return Verification(count, entry, f"its time goes back before the previous entry's ({prev_at.isoformat()})")
        prev, expected_seq, prev_at = entry.hash, expected_seq + 1, at
    return Verification(count)


def write_csv(entries: Iterable[AuditEntry], out: TextIO) -> int:
    """Write entries as CSV for the hygiene supervisor; return how many."""
    writer = csv.writer(out)
    writer.writerow(["seq", "at", "session", "event", "detail", "hash"])
    n = 0
    for e in entries:
        writer.writerow([e.seq, e.at, e.session, e.event, e.detail, e.hash])
        n += 1
    return n


class AuditTrail:
    """The station's audit trail, written through the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> None:
        """Nothing to prepare: the table and its triggers come with the schema (runtime.schema)."""

    async def stop(self) -> None:
        """Nothing to release; present for the component lifecycle."""

    async def append(self, at: datetime, session: str, event: str, **detail: object) -> AuditEntry:
        """Append an entry; `detail` must hold no personal data."""
        return await self._db.run(lambda c: append_entry(c, at, session, event, detail))

    async def entries(self, since: str = "") -> list[AuditEntry]:
        """Read the entries, optionally from an ISO time on."""
        return await self._db.run(lambda c: read_entries(c, since))

    async def latest(self, event: str, count: int) -> list[AuditEntry]:
        """The last `count` entries of `event`, newest first."""
        return await self._db.run(lambda c: read_latest(c, event, count))

    async def last_time(self) -> datetime | None:
        """The time of the last entry, None on an empty trail."""
        return await self._db.run(read_last_time)

    async def verify(self) -> Verification:
        """Check the whole chain."""
        return verify_entries(await self.entries())
