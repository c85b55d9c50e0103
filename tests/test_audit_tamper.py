"""The audit trail against someone who deletes or rewrites it: the keyed chain, the head the hub
acknowledged, and a verify that only reads (hygiene/audit.py)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.config import LoginSection
from hub.server import Hub
from hygiene.audit import HEAD_NAME, AuditEntry, AuditTrail, ChainHead, entry_hash, read_acknowledged, unkeyed_hash
from protocol.hub import AuditAck, AuditHead
from runtime.clock import PARIS
from runtime.storage import DB_NAME, Database
from station.cli import main
from tests.conftest import eventually
from tests.remote import station_with_hub
from tests.test_hub import hub_config
from tests.test_hub_client import Station, client_for, connected, hub  # noqa: F401 (the hub fixture)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)


@pytest.fixture
async def trail(db: Database) -> AsyncIterator[AuditTrail]:
    t = AuditTrail(db)
    await t.start()
    yield t
    await t.stop()


async def fill(trail: AuditTrail, n: int, start: datetime = T0) -> list[AuditEntry]:
    return [await trail.append(start + timedelta(minutes=i), f"s{i}", "cleaning_step", step=i) for i in range(n)]


def tamper(db: Database, *statements: str) -> None:
    """Run SQL on the file behind the triggers, as someone with the database and sqlite3 would."""
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def rechain(db: Database, hash_of: object) -> None:
    """Rewrite every entry's detail and chain the hashes again with `hash_of(prev, seq, at, session, event, detail)`."""
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        rows = conn.execute("SELECT seq, at, session, event FROM audit ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, at, session, event in rows:
            detail = '{"step":0}'
            digest = hash_of(prev, seq, at, session, event, detail)  # type: ignore[operator]
            conn.execute("UPDATE audit SET detail = ?, prev = ?, hash = ? WHERE seq = ?", (detail, prev, digest, seq))
            prev = digest
    finally:
        conn.close()


def verify(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "verify", "--state-dir", str(state_dir)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


async def acknowledged_trail(db: Database, trail: AuditTrail, n: int = 5) -> ChainHead:
    """A trail of `n` entries whose head the hub acknowledged."""
    await fill(trail, n)
    head = await trail.head()
    assert head is not None and await trail.acknowledged(head)
    return head


async def test_the_last_entries_deleted_are_reported(db: Database, trail: AuditTrail,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    await acknowledged_trail(db, trail)
    tamper(db, "DELETE FROM audit WHERE seq > 3")
    code, _, err = verify(db.path.parent, capsys)
    assert code == 1
    assert "audit trail BROKEN: entries deleted at the end: the hub acknowledged entry 5, the trail ends at entry 3" in err


async def test_every_entry_deleted_is_reported(db: Database, trail: AuditTrail,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    await acknowledged_trail(db, trail)
    tamper(db, "DELETE FROM audit")
    code, _, err = verify(db.path.parent, capsys)
    assert code == 1
    assert "audit trail BROKEN: every entry has been deleted: the hub acknowledged entry 5" in err


async def test_a_chain_rewritten_with_unkeyed_hashes_is_reported(db: Database, trail: AuditTrail,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    await fill(trail, 5)  # no head acknowledged: the key alone catches it
    rechain(db, unkeyed_hash)
    code, _, err = verify(db.path.parent, capsys)
    assert code == 1
    assert "audit trail BROKEN at entry 1" in err and "rewritten without the station's key" in err


async def test_a_chain_rewritten_under_another_key_is_reported(db: Database, trail: AuditTrail,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    await fill(trail, 5)
    rechain(db, lambda *body: entry_hash(b"not the station's key", *body))
    code, _, err = verify(db.path.parent, capsys)
    assert code == 1
    assert "audit trail BROKEN at entry 1" in err and "rewritten without the station's key" in err


async def test_a_chain_rewritten_with_the_key_does_not_match_the_acknowledged_head(
        db: Database, trail: AuditTrail, capsys: pytest.CaptureFixture[str]) -> None:
    await acknowledged_trail(db, trail)
    key = trail._key  # whoever has the station's secret too: only the hub's head tells
    rechain(db, lambda *body: entry_hash(key, *body))
    code, _, err = verify(db.path.parent, capsys)
    assert code == 1
    assert "audit trail BROKEN: the chain has been rewritten: entry 5's hash is not the one the hub acknowledged" in err


async def test_an_intact_trail_says_what_the_hub_acknowledged(db: Database, trail: AuditTrail,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    await acknowledged_trail(db, trail)
    await fill(trail, 2, T0 + timedelta(hours=1))
    code, out, _ = verify(db.path.parent, capsys)
    assert code == 0
    assert out == "audit trail intact: 7 entries; the hub acknowledged entry 5\n"


async def test_a_head_the_trail_no_longer_holds_is_kept_whatever_the_hub_acknowledges_after(
        db: Database, trail: AuditTrail, caplog: pytest.LogCaptureFixture) -> None:
    before = await acknowledged_trail(db, trail)
    tamper(db, "DELETE FROM audit WHERE seq > 2")
    await fill(trail, 6, T0 + timedelta(hours=1))  # the trail grows past the deleted entries again
    head = await trail.head()
    assert head is not None and head.seq > before.seq
    assert not await trail.acknowledged(head)
    assert read_acknowledged(db.path.parent) == before
    assert "no longer holds entry 5" in caplog.text


async def test_the_head_is_sent_and_acknowledged_over_the_hub_connection(
        hub: Hub, db: Database, trail: AuditTrail, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    acks: list[AuditAck] = []

    async def acknowledged(ack: AuditAck) -> None:
        acks.append(ack)
        await trail.acknowledged(ChainHead(ack.seq, ack.hash))

    station = Station()
    client = client_for(hub, station)
    client._on_audit_ack = acknowledged
    await fill(trail, 3)
    head = await trail.head()
    assert head is not None
    await client.send_audit_head(AuditHead(seq=head.seq, hash=head.hash))  # offline: sent once connected
    await client.start()
    try:
        await connected(client)
        await eventually(lambda: len(acks) == 1)
        assert (acks[0].seq, acks[0].hash) == (3, head.hash)
        assert read_acknowledged(db.path.parent) == head
        # The hub remembers it: a head that goes back on it is refused, and the station's file stays.
        await client.send_audit_head(AuditHead(seq=2, hash="ab" * 32))
        await eventually(lambda: "audit_head_back" in caplog.text)
        assert len(acks) == 1 and read_acknowledged(db.path.parent) == head
    finally:
        await client.stop()


async def test_a_restarted_hub_still_refuses_a_head_that_goes_back(tmp_path: Path, db: Database, trail: AuditTrail,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The acknowledged heads are in the hub's store: a trail cut while the hub was down is refused after."""
    config = hub_config(login=LoginSection(state_dir=tmp_path / "hub"))
    acks: list[AuditAck] = []

    async def acknowledged(ack: AuditAck) -> None:
        acks.append(ack)

    await fill(trail, 3)
    head = await trail.head()
    assert head is not None
    for round_ in range(2):
        server = Hub(config)
        await server.start()
        client = client_for(server, Station())
        client._on_audit_ack = acknowledged
        try:
            await client.start()
            await connected(client)
            if round_ == 0:
                await client.send_audit_head(AuditHead(seq=head.seq, hash=head.hash))
                await eventually(lambda: len(acks) == 1)
            else:  # a new hub process on the same store
                await client.send_audit_head(AuditHead(seq=2, hash="ab" * 32))
                await eventually(lambda: "audit_head_back" in caplog.text)
                assert "from entry 3 to 2" in caplog.text and len(acks) == 1
        finally:
            await client.stop()
            await server.stop()


async def test_a_station_with_a_hub_keeps_its_acknowledged_head(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    async with station_with_hub(tmp_path, speed=1000.0) as remote:
        trail = remote.station.audit
        await eventually(lambda: (tmp_path / HEAD_NAME).exists())
        await trail.append(remote.station.clock.now(), "-", "test_entry")
        head = await trail.head()
        await eventually(lambda: read_acknowledged(tmp_path) == head)
        code, out, _ = verify(tmp_path, capsys)  # beside the running station
        assert code == 0 and head is not None and f"the hub acknowledged entry {head.seq}" in out


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_changes_nothing_not_even_the_journal_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def write() -> None:
        db = Database(tmp_path)
        await db.start()
        try:
            trail = AuditTrail(db)
            await trail.start()
            await fill(trail, 3)
        finally:
            await db.stop()

    asyncio.run(write())
    # A copy as `sqlite3 .backup` leaves it (rollback journal), read-only, in a read-only directory.
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before, names = digest_of(path), sorted(os.listdir(tmp_path))
    path.chmod(0o400)
    tmp_path.chmod(0o500)
    try:
        code, out, _ = verify(tmp_path, capsys)
    finally:
        tmp_path.chmod(0o700)
    assert code == 0 and out.startswith("audit trail intact: 3 entries")
    assert digest_of(path) == before
    assert sorted(os.listdir(tmp_path)) == names  # no -wal, no -shm, no journal


async def test_verify_reads_beside_a_writer_without_disturbing_it(db: Database, trail: AuditTrail,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    await fill(trail, 3)
    code, out, _ = await asyncio.to_thread(verify, db.path.parent, capsys)
    assert code == 0 and out.startswith("audit trail intact: 3 entries")
    await fill(trail, 1, T0 + timedelta(hours=1))  # the station writes on
    assert (await trail.verify()).ok
