"""The audit trail's hashes, pinned: fixed entries at fixed times give these exact digests.

The rule (hygiene/audit.py): an entry's hash is the SHA-256 of the UTF-8 of the compact JSON array
[previous entry's hash, seq, time, session, event, detail], the first entry's previous hash being
64 zeros. A trail written under another rule (one that leaves out the previous hash, say) no longer
verifies against the trails already on disk, so the digests are pinned, not only recomputed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from hygiene.audit import AuditTrail
from runtime.clock import PARIS
from runtime.storage import Database

T0 = datetime(2026, 11, 30, 9, 5, tzinfo=PARIS)
SESSION = "0123456789abcdef"
ZEROS = "0" * 64

# (time, session, event, detail) of each entry, in order.
ENTRIES: list[tuple[datetime, str, str, dict[str, object]]] = [
    (T0, "-", "station_started", {"state": "ready", "previous": "closed"}),
    (T0 + timedelta(minutes=1), SESSION, "cleaning_mark_set", {}),
    (T0 + timedelta(minutes=2), SESSION, "consent_given", {}),
    (T0 + timedelta(minutes=40), "-", "cleaning_cleared", {"steps": ["ventilate", "remove_waste"], "started_by": "référent"}),
]

# Computed once with the code as it is; a change of the hashing rule changes every one of them.
PINNED = [
    "564c7b6815d4ec4c4edd61ca673f88b9392e9d5b1d197e79ed12f0c1caff7408",
    "5cac9321ab8ab3268a366c8643608f9c0f2bb6027e0d0016121af903ded7faf9",
    "07d8d99274dce82b253ba4f190b900a0b08b65051254e4a0bac4eba74841233d",
    "fc8ce883aeba5fefe48f4444dfe451f2d3cc2fe920c4bdf4dbeb76f15b627990",
]


def by_the_rule(prev: str, seq: int, at: str, session: str, event: str, detail: str) -> str:
    """The documented rule, written out here rather than taken from hygiene/audit.py."""
    body = json.dumps([prev, seq, at, session, event, detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


async def written(db: Database) -> list[tuple[str, str, str]]:
    """Write ENTRIES to a fresh trail; (detail as stored, prev, hash) of each."""
    trail = AuditTrail(db)
    await trail.start()
    out = []
    for at, session, event, detail in ENTRIES:
        entry = await trail.append(at, session, event, **detail)
        out.append((entry.detail, entry.prev, entry.hash))
    return out


async def test_a_fixed_trail_has_the_pinned_digests(db: Database) -> None:
    entries = await written(db)
    assert [h for _, _, h in entries] == PINNED
    assert [p for _, p, _ in entries] == [ZEROS, *PINNED[:-1]]
    trail = AuditTrail(db)
    assert [e.hash for e in await trail.entries()] == PINNED
    assert (await trail.verify()).ok


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
    body = f'["{ZEROS}",1,"2026-11-30T09:05:00+01:00","-","station_started","{{\\"previous\\":\\"closed\\",\\"state\\":\\"ready\\"}}"]'
    assert digest == hashlib.sha256(body.encode("utf-8")).hexdigest()

