"""The audit trail's hashes, pinned: fixed entries at fixed times under a fixed key give these exact digests.

The rule (hygiene/audit.py, docs/design.md "The audit chain"): an entry's hash is the HMAC-SHA256,
under the chain key, of the UTF-8 of the compact JSON array [previous entry's hash, seq, time,
session, event, detail], the first entry's previous hash being 64 zeros; the chain key is the
HMAC-SHA256 of the text "cabin audit chain v1" under the station's secret (`station.key`, hex).
A trail begun before the chain was keyed keeps its entries under the old rule, the plain SHA-256
of the same array, up to its `audit_keyed` entry. A trail written under another rule no longer
verifies against the trails already on disk, so the digests are pinned, not only recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from hygiene.audit import AuditTrail
from hygiene.keys import SECRET_NAME
from runtime.clock import PARIS
from runtime.storage import Database

T0 = datetime(2026, 11, 30, 9, 5, tzinfo=PARIS)
SESSION = "0123456789abcdef"
ZEROS = "0" * 64
SECRET = bytes(range(32))  # the test station's secret: 00 01 02 ... 1f
CHAIN_KEY = "4f3e9256a39baba89745f687bdae7bffec40de0f2a6372839770b46127b1104a"

# (time, session, event, detail) of each entry, in order.
ENTRIES: list[tuple[datetime, str, str, dict[str, object]]] = [
    (T0, "-", "station_started", {"state": "ready", "previous": "closed"}),
    (T0 + timedelta(minutes=1), SESSION, "cleaning_mark_set", {}),
    (T0 + timedelta(minutes=2), SESSION, "consent_given", {}),
    (T0 + timedelta(minutes=40), "-", "cleaning_cleared", {"steps": ["ventilate", "remove_waste"], "started_by": "référent"}),
]

# Computed once with the code as it is, under SECRET; a change of the rule changes every one of them.
PINNED = [
    "6cfd0b2cb057ee796716df14bbd42e7f11ecebfaf3fb42dbd6ab99315fb7633e",
    "a6fc2c3064c9ab43409e5dc5d1720f409f2a6290ae234fe570b8f32089061958",
    "b394a22b61a50a3690dce6fce8ec154d8f3b31b9c49986b8df3f08116c14f5fb",
    "70fd9bdb8cef8202909858f1ed2ce6c48147b21f1865491d285eb2b03d73a6eb",
]
# The same entries under the old, unkeyed rule, as stations wrote them before the chain was keyed.
UNKEYED_PINNED = [
    "564c7b6815d4ec4c4edd61ca673f88b9392e9d5b1d197e79ed12f0c1caff7408",
    "5cac9321ab8ab3268a366c8643608f9c0f2bb6027e0d0016121af903ded7faf9",
    "07d8d99274dce82b253ba4f190b900a0b08b65051254e4a0bac4eba74841233d",
    "fc8ce883aeba5fefe48f4444dfe451f2d3cc2fe920c4bdf4dbeb76f15b627990",
]


def body(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> bytes:
    return json.dumps([prev, seq, at, session, event, detail], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def by_the_rule(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    """The documented keyed rule, written out here rather than taken from hygiene/audit.py."""
    key = hmac.new(SECRET, b"cabin audit chain v1", hashlib.sha256).digest()
    return hmac.new(key, body(prev, seq, at, session, event, detail), hashlib.sha256).hexdigest()


def by_the_old_rule(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    return hashlib.sha256(body(prev, seq, at, session, event, detail)).hexdigest()


async def started_trail(db: Database) -> AuditTrail:
    """The trail of a station whose secret is SECRET."""
    (db.path.parent / SECRET_NAME).write_text(SECRET.hex())
    trail = AuditTrail(db)
    await trail.start()
    return trail


async def written(db: Database) -> list[tuple[str, str, str]]:
    """Write ENTRIES to a fresh trail; (detail as stored, prev, hash) of each."""
    trail = await started_trail(db)
    out = []
    for at, session, event, detail in ENTRIES:
        entry = await trail.append(at, session, event, **detail)
        out.append((entry.detail, entry.prev, entry.hash))
    return out


async def test_a_fixed_trail_has_the_pinned_digests(db: Database) -> None:
    entries = await written(db)
    assert [h for _, _, h in entries] == PINNED
    assert [p for _, p, _ in entries] == [ZEROS, *PINNED[:-1]]
    trail = await started_trail(db)
    assert [e.hash for e in await trail.entries()] == PINNED
    assert (await trail.verify()).ok


def test_the_chain_key_is_derived_from_the_station_secret_as_documented() -> None:
    assert hmac.new(SECRET, b"cabin audit chain v1", hashlib.sha256).hexdigest() == CHAIN_KEY


async def test_the_pinned_digests_follow_the_documented_rule(db: Database) -> None:
    entries = await written(db)
    prev = ZEROS
    for seq, ((at, session, event, _), (detail, stored_prev, digest)) in enumerate(zip(ENTRIES, entries, strict=True), 1):
        assert stored_prev == prev
        assert digest == by_the_rule(prev, seq, at.isoformat(), session, event, detail) == PINNED[seq - 1]
        prev = digest


async def test_the_hashed_body_of_the_first_entry_is_this_exact_text(db: Database) -> None:
    detail, _, digest = (await written(db))[0]
    # Detail: keys sorted, compact, non-ASCII kept; the body: the previous hash comes first.
    assert detail == '{"previous":"closed","state":"ready"}'
    text = f'["{ZEROS}",1,"2026-11-30T09:05:00+01:00","-","station_started","{{\\"previous\\":\\"closed\\",\\"state\\":\\"ready\\"}}"]'
    assert digest == hmac.new(bytes.fromhex(CHAIN_KEY), text.encode("utf-8"), hashlib.sha256).hexdigest()


def write_unkeyed(path: Path) -> None:
    """ENTRIES as a station wrote them before the chain was keyed, under the old rule."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        prev = ZEROS
        for seq, (at, session, event, detail) in enumerate(ENTRIES, 1):
            text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            digest = by_the_old_rule(prev, seq, at.isoformat(), session, event, text)
            conn.execute("INSERT INTO audit (seq, at, session, event, detail, prev, hash) VALUES (?,?,?,?,?,?,?)",
                         (seq, at.isoformat(), session, event, text, prev, digest))
            prev = digest
    finally:
        conn.close()


async def test_an_unkeyed_trail_keeps_verifying_and_goes_on_keyed_from_a_marked_entry(db: Database) -> None:
    write_unkeyed(db.path)
    trail = await started_trail(db)
    assert [e.hash for e in await trail.entries()] == UNKEYED_PINNED
    before = await trail.verify()
    assert before.ok and before.unkeyed == 4

    later = T0 + timedelta(hours=1)
    appended = await trail.append(later, "-", "station_started", state="ready", previous="closed")
    entries = await trail.entries()
    assert [e.hash for e in entries[:4]] == UNKEYED_PINNED  # history is not rewritten
    marker = entries[4]
    assert (marker.seq, marker.event, marker.detail, marker.prev) == (5, "audit_keyed", '{"unkeyed_entries":4}',
                                                                       UNKEYED_PINNED[-1])
    assert marker.hash == by_the_rule(marker.prev, 5, later.isoformat(), "-", "audit_keyed", marker.detail)
    assert appended.seq == 6 and appended.prev == marker.hash
    assert appended.hash == by_the_rule(marker.hash, 6, later.isoformat(), "-", "station_started", appended.detail)
    after = await trail.verify()
    assert after.ok and after.entries == 6 and after.unkeyed == 4
