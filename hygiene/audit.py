"""The audit trail: append-only entries, each chained to the previous one by a keyed hash.

An entry's hash is an HMAC-SHA256, under a key derived from the station's secret (which is not
in the database, hygiene/keys.py), of its sequence number, time, session, event and detail plus
the hash of the entry before it, so editing, deleting or reordering any entry breaks the chain at
that entry, and whoever has the database without the key cannot write a chain that verifies.
SQLite triggers (runtime.schema) refuse UPDATE and DELETE; `verify` catches what bypassed them,
and an entry whose time goes back before the previous one's. A trail written before the chain was
keyed keeps its entries under the old rule (plain SHA-256) up to an `audit_keyed` entry, the
first keyed one (docs/design.md, "The audit chain").

The station sends the chain's head (sequence and hash) to its hub, and keeps the last head the
hub acknowledged in `audit.head` beside the database: deleting the last entries, every entry, or
rewriting the chain then no longer matches it.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from hygiene.keys import SECRET_NAME, load_or_create_secret, read_secret
from runtime.errors import StationError
from runtime.storage import DB_NAME, Database, connect_read_only, create_private, replace_file, transaction

log = logging.getLogger(__name__)

GENESIS = "0" * 64
KEYED_EVENT = "audit_keyed"  # the first keyed entry of a trail begun before the chain was keyed
HEAD_NAME = "audit.head"
KEYED_NAME = "audit.keyed"  # present once a station has keyed this trail: a trail with no keyed entry is then rewritten
_KEY_LABEL = b"cabin audit chain v1"
_ENTRY_COLUMNS = "seq, at, session, event, detail, prev, hash"


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
class ChainHead:
    """The last entry of a trail, as the hub acknowledges it: its sequence number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Verification:
    """The result of checking the trail: `reason` says what is wrong ('' when nothing is).

    `broken` names the first bad entry when one is; a trail cut short or rewritten as a whole
    is found by the acknowledged head, with no entry to name. `unkeyed` counts the entries
    under the old, unkeyed rule; `acknowledged` is the head the hub last acknowledged, if any.
    """

    entries: int
    broken: AuditEntry | None = None
    reason: str = ""
    unkeyed: int = 0
    acknowledged: ChainHead | None = None

    @property
    def ok(self) -> bool:
        """True when every entry is intact, in order, and the acknowledged head is still there."""
        return not self.reason


def audit_key(secret: bytes) -> bytes:
    """The chain's key, derived from the station's secret (so the badges' key is not reused as is)."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _body(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> bytes:
    return json.dumps([prev, seq, at, session, event, detail], ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(key: bytes, prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    """The HMAC-SHA256 under `key` of an entry's content chained to the previous entry's hash."""
    return hmac.new(key, _body(prev, seq, at, session, event, detail), hashlib.sha256).hexdigest()


def unkeyed_hash(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    """The old rule, for entries written before the chain was keyed: the plain SHA-256 of the same body."""
    return hashlib.sha256(_body(prev, seq, at, session, event, detail)).hexdigest()


def _keyed(key: bytes, e: AuditEntry) -> bool:
    return hmac.compare_digest(entry_hash(key, e.prev, e.seq, e.at, e.session, e.event, e.detail), e.hash)


def _unkeyed(e: AuditEntry) -> bool:
    return e.event != KEYED_EVENT and unkeyed_hash(e.prev, e.seq, e.at, e.session, e.event, e.detail) == e.hash


def _last(conn: sqlite3.Connection) -> AuditEntry | None:
    row = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return AuditEntry(*row) if row else None


def _insert(conn: sqlite3.Connection, key: bytes, last: AuditEntry | None, stamp: str, session: str, event: str,
            text: str) -> AuditEntry:
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    digest = entry_hash(key, prev, seq, stamp, session, event, text)
    conn.execute(f"INSERT INTO audit ({_ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                 (seq, stamp, session, event, text, prev, digest))
    return AuditEntry(seq, stamp, session, event, text, prev, digest)


def _compact(detail: dict[str, object]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def append_entry(
    conn: sqlite3.Connection, key: bytes, at: datetime, session: str, event: str, detail: dict[str, object]
) -> AuditEntry:
    """Append one keyed entry inside a write transaction.

    On a trail whose last entry is under the old rule, an `audit_keyed` entry goes first: from it
    on, every entry is keyed, and the entries before it stay as they were written.
    """
    if not key:
        raise StationError("the audit trail has no key: it is not started")
    stamp = at.isoformat()
    with transaction(conn):
        last = _last(conn)
        if last is not None and not _keyed(key, last) and _unkeyed(last):
            last = _insert(conn, key, last, stamp, "-", KEYED_EVENT, _compact({"unkeyed_entries": last.seq}))
        return _insert(conn, key, last, stamp, session, event, _compact(detail))


def read_entries(conn: sqlite3.Connection, since: str = "") -> list[AuditEntry]:
    """Every entry in order, optionally only those at or after the ISO time `since`."""
    rows = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE at >= ? ORDER BY seq", (since,)).fetchall()
    return [AuditEntry(*row) for row in rows]


def read_latest(conn: sqlite3.Connection, event: str, count: int) -> list[AuditEntry]:
    """The last `count` entries of one event, newest first (an index walk: the trail only grows)."""
    rows = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE event = ? ORDER BY seq DESC LIMIT ?", (event, count),
    ).fetchall()
    return [AuditEntry(*row) for row in rows]


def read_last_time(conn: sqlite3.Connection) -> datetime | None:
    """The time of the last entry, None on an empty trail (or one whose last time is not a time)."""
    row = conn.execute("SELECT at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return _parse_time(str(row[0])) if row else None


def read_head(conn: sqlite3.Connection) -> ChainHead | None:
    """The last entry's sequence number and hash, None on an empty trail."""
    last = _last(conn)
    return ChainHead(last.seq, last.hash) if last else None


def read_hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    """The hash of entry `seq`, None when there is no such entry."""
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return str(row[0]) if row else None


def _parse_time(at: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(at)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _hash_problem(entry: AuditEntry, key: bytes | None, unkeyed: bool) -> str:
    """What is wrong with an entry's hash, under the old rule or the key ('' when nothing)."""
    if unkeyed:
        return "" if _unkeyed(entry) else "content does not match its hash (edited)"
    if key is None:
        return f"it is keyed, and the station's secret ({SECRET_NAME}) to check it with is missing"
    if not _keyed(key, entry):
        return ("its hash is not the station's keyed hash of its content "
                "(edited, or rewritten without the station's key)")
    return ""


def verify_entries(entries: Iterable[AuditEntry], key: bytes | None) -> Verification:
    """Check the chain and the times from the first entry; stop at the first broken one.

    Every entry is keyed, except, on a trail begun before the chain was keyed, the entries
    before its `audit_keyed` entry, which follow the old rule. An entry's time may equal the
    previous one's but never be earlier: a trail whose clock went back cannot say in what order
    things happened (docs/design.md, "Data and security"). Without a key (a station secret that
    is missing), a keyed entry is a finding: it cannot be checked.
    """
    prev, expected_seq, count, prev_at = GENESIS, 1, 0, None
    unkeyed: bool | None = None  # decided by the first entry: still under the old rule?
    legacy = 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return Verification(count, entry, f"sequence jumps from {expected_seq - 1} to {entry.seq}", legacy)
        if entry.prev != prev:
            return Verification(count, entry, "does not follow the previous entry", legacy)
        if unkeyed is None:
            unkeyed = _unkeyed(entry) and (key is None or not _keyed(key, entry))
        if unkeyed and entry.event == KEYED_EVENT:
            unkeyed = False
        problem = _hash_problem(entry, key, unkeyed)
        if problem:
            return Verification(count, entry, problem, legacy)
        legacy += bool(unkeyed)
        at = _parse_time(entry.at)
        if at is None:
            return Verification(count, entry, f"its time {entry.at!r} is not a time with a UTC offset", legacy)
        if prev_at is not None and at < prev_at:
            return Verification(count, entry, f"its time goes back before the previous entry's ({prev_at.isoformat()})",
                                legacy)
        prev, expected_seq, prev_at = entry.hash, expected_seq + 1, at
    return Verification(count, unkeyed=legacy)


def check_trail(entries: list[AuditEntry], key: bytes | None, acknowledged: ChainHead | None, *,
                keyed: bool) -> Verification:
    """The chain checked, then held against the head the hub last acknowledged.

    A trail that ends before that head lost its last entries (or all of them); one whose entry
    at that sequence has another hash was rewritten. Neither has a broken entry to name. With
    `keyed` (the station has keyed this trail), a trail with entries and none of them keyed was
    rewritten under the old rule.
    """
    result = verify_entries(entries, key)
    if result.ok and keyed and entries and result.unkeyed == len(entries):
        return Verification(result.entries, entries[0], "no entry is keyed although this station keys its trail "
                            f"({KEYED_NAME}): rewritten without the station's key", result.unkeyed, acknowledged)
    if not result.ok or acknowledged is None:
        return Verification(result.entries, result.broken, result.reason, result.unkeyed, acknowledged)
    last = entries[-1].seq if entries else 0
    reason = ""
    if not entries:
        reason = (f"every entry has been deleted: the hub acknowledged entry {acknowledged.seq} "
                  f"({acknowledged.hash[:16]}...), the trail is empty")
    elif last < acknowledged.seq:
        reason = (f"entries deleted at the end: the hub acknowledged entry {acknowledged.seq}, "
                  f"the trail ends at entry {last}")
    elif entries[acknowledged.seq - 1].hash != acknowledged.hash:
        reason = (f"the chain has been rewritten: entry {acknowledged.seq}'s hash is not the one the hub acknowledged "
                  f"({acknowledged.hash[:16]}...)")
    return Verification(result.entries, None, reason, result.unkeyed, acknowledged)


def read_acknowledged(state_dir: Path) -> ChainHead | None:
    """The head the hub last acknowledged, from `audit.head`; None if it never did; StationError if unreadable."""
    path = Path(state_dir) / HEAD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        head = ChainHead(int(data["seq"]), str(data["hash"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StationError(f"the acknowledged audit head {path} is unreadable: {exc}") from exc
    return head


def write_acknowledged(state_dir: Path, head: ChainHead) -> None:
    """Replace `audit.head` at once (runtime/storage.replace_file), 0600."""
    data = json.dumps({"seq": head.seq, "hash": head.hash}) + "\n"
    replace_file(Path(state_dir) / HEAD_NAME, data.encode(), 0o600)


def verify_state_dir(state_dir: Path) -> Verification:
    """`cabin audit verify`: the trail of a state directory checked with its key and acknowledged head.

    Reads only: the database is opened read-only (it may be a running station's), the key is
    never created. StationError when something needed cannot be read.
    """
    key = audit_key(read_secret(state_dir)) if (Path(state_dir) / SECRET_NAME).exists() else None
    acknowledged = read_acknowledged(state_dir)
    keyed = (Path(state_dir) / KEYED_NAME).exists()
    conn = connect_read_only(Path(state_dir) / DB_NAME)
    try:
        entries = read_entries(conn)
    except sqlite3.Error as exc:
        raise StationError(f"cannot read the audit trail in {state_dir}: {exc}") from exc
    finally:
        conn.close()
    return check_trail(entries, key, acknowledged, keyed=keyed)


def mark_keyed(state_dir: Path) -> None:
    """Leave `audit.keyed` beside the database (0600, empty): from now on this trail is keyed."""
    path = Path(state_dir) / KEYED_NAME
    try:
        create_private(path)
    except OSError as exc:
        raise StationError(f"cannot create {path}: {exc}") from exc


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
    """The station's audit trail, written through the database thread under the station's key."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._state_dir = db.path.parent
        self._key = b""
        self._marked = False  # audit.keyed is known to be there

    async def start(self) -> None:
        """Load (or create) the station's secret; the table and its triggers come with the schema."""
        self._key = audit_key(await asyncio.to_thread(load_or_create_secret, self._state_dir))

    async def stop(self) -> None:
        """Forget the key."""
        self._key = b""

    async def append(self, at: datetime, session: str, event: str, **detail: object) -> AuditEntry:
        """Append an entry; `detail` must hold no personal data."""
        key = self._key
        entry = await self._db.run(lambda c: append_entry(c, key, at, session, event, detail))
        if not self._marked:  # from its first keyed entry on, this trail is keyed
            await asyncio.to_thread(mark_keyed, self._state_dir)
            self._marked = True
        return entry

    async def entries(self, since: str = "") -> list[AuditEntry]:
        """Read the entries, optionally from an ISO time on."""
        return await self._db.run(lambda c: read_entries(c, since))

    async def latest(self, event: str, count: int) -> list[AuditEntry]:
        """The last `count` entries of `event`, newest first."""
        return await self._db.run(lambda c: read_latest(c, event, count))

    async def last_time(self) -> datetime | None:
        """The time of the last entry, None on an empty trail."""
        return await self._db.run(read_last_time)

    async def head(self) -> ChainHead | None:
        """The chain's head now, for the hub; None on an empty trail."""
        return await self._db.run(read_head)

    async def acknowledged(self, head: ChainHead) -> bool:
        """The hub acknowledged `head`: keep it in `audit.head` if the chain extends the head kept there.

        A head the trail no longer holds (its entries were deleted or rewritten) stays as the
        evidence `cabin audit verify` reports, whatever the hub acknowledges after. Returns
        whether `head` was kept.
        """
        kept = await asyncio.to_thread(read_acknowledged, self._state_dir)
        if kept is not None:
            held = await self._db.run(lambda c: read_hash_at(c, kept.seq))
            if held != kept.hash:
                log.error("the audit trail no longer holds entry %s as the hub acknowledged it: "
                          "%s keeps that head for cabin audit verify", kept.seq, HEAD_NAME)
                return False
            if head.seq <= kept.seq:
                return False
        await asyncio.to_thread(write_acknowledged, self._state_dir, head)
        return True

    async def verify(self) -> Verification:
        """Check the whole chain against the acknowledged head."""
        acknowledged = await asyncio.to_thread(read_acknowledged, self._state_dir)
        keyed = await asyncio.to_thread((self._state_dir / KEYED_NAME).exists)
        return check_trail(await self.entries(), self._key, acknowledged, keyed=keyed)
