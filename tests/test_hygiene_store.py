"""The cabin's persisted state and its cleaning mark (hygiene/store.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hygiene.cleaning import CleaningProof
from hygiene.store import CabinStore
from runtime.clock import PARIS
from runtime.storage import Database, StorageError

T0 = datetime(2026, 11, 30, 9, 30, tzinfo=PARIS)


def proof(at: datetime) -> CleaningProof:
    return CleaningProof(
        started_by="a" * 64, confirmed_by="b" * 64, started_at=at - timedelta(minutes=10), finished_at=at,
        steps=(("ventilate", (at - timedelta(minutes=9)).isoformat()),),
    )


@pytest.fixture
async def store(db: Database) -> CabinStore:
    return CabinStore(db)


async def reopen(tmp_path: Path) -> tuple[Database, CabinStore]:
    database = Database(tmp_path)
    await database.start()
    return database, CabinStore(database)


async def test_new_store_is_ready_without_a_mark(store: CabinStore) -> None:
    record = await store.start()
    assert record.state == "ready"
    assert record.cleaning_required is False
    assert record.mark_session == record.mark_set_at == ""
    assert record.to_json()["cleaning_mark"] is None


async def test_set_mark_persists_across_a_new_database(tmp_path: Path) -> None:
    database, store = await reopen(tmp_path)
    await store.start()
    record = await store.set_mark(T0, "session-1")
    assert record.cleaning_required and record.mark_session == "session-1"
    await database.stop()

    database, store = await reopen(tmp_path)
    try:
        record = await store.start()
        assert record.cleaning_required is True
        assert (record.mark_session, record.mark_set_at) == ("session-1", T0.isoformat())
        assert record.to_json()["cleaning_mark"] == {"session": "session-1", "set_at": T0.isoformat()}
    finally:
        await database.stop()


async def test_state_changes_do_not_clear_the_mark(store: CabinStore) -> None:
    await store.start()
    await store.set_mark(T0, "s1")
    await store.record_state(T0 + timedelta(minutes=1), "ready", "")
    await store.record_consultation_end(T0 + timedelta(minutes=2))
    await store.set_out_of_service(T0 + timedelta(minutes=3), "printer on fire")
    await store.set_out_of_service(T0 + timedelta(minutes=4), "")
    record = await store.load()
    assert record.cleaning_required and record.mark_session == "s1"


async def test_clear_mark_with_a_cleaning_proof(tmp_path: Path) -> None:
    database, store = await reopen(tmp_path)
    await store.start()
    await store.set_mark(T0, "s1")
    done = T0 + timedelta(minutes=20)
    record = await store.clear_mark(proof(done))
    assert record.cleaning_required is False
    assert (record.mark_session, record.mark_set_at) == ("", "")
    assert record.last_cleaning_at == done.isoformat()
    assert record.last_cleaned_by == "b" * 64
    await database.stop()

    database, store = await reopen(tmp_path)
    try:
        record = await store.start()
        assert record.cleaning_required is False
        assert record.last_cleaning_at == done.isoformat()
    finally:
        await database.stop()


@pytest.mark.parametrize("not_a_proof", [None, "cleaned", {"finished_at": T0, "confirmed_by": "x"}])
async def test_clear_mark_without_a_proof_fails_and_keeps_the_mark(store: CabinStore, not_a_proof: object) -> None:
    await store.start()
    await store.set_mark(T0, "s1")
    with pytest.raises((TypeError, AttributeError)):
        await store.clear_mark(not_a_proof)  # type: ignore[arg-type]
    assert (await store.load()).cleaning_required is True


async def test_record_consultation_end(store: CabinStore) -> None:
    await store.start()
    end = T0 + timedelta(minutes=25)
    record = await store.record_consultation_end(end)
    assert record.last_consultation_end == end.isoformat()
    assert record.updated_at == end.isoformat()
    assert record.to_json()["last_consultation_end"] == end.isoformat()


async def test_set_out_of_service_and_back(store: CabinStore) -> None:
    await store.start()
    record = await store.set_out_of_service(T0, "no printer paper")
    assert record.out_of_service_reason == "no printer paper"
    assert record.to_json()["out_of_service_reason"] == "no printer paper"
    record = await store.set_out_of_service(T0 + timedelta(hours=1), "")
    assert record.out_of_service_reason == ""
    assert record.to_json()["out_of_service_reason"] is None


async def test_record_state(store: CabinStore) -> None:
    await store.start()
    record = await store.record_state(T0, "in_consultation", "s9")
    assert (record.state, record.session, record.updated_at) == ("in_consultation", "s9", T0.isoformat())


async def test_store_on_a_stopped_database_is_a_storage_error(tmp_path: Path) -> None:
    database = Database(tmp_path)
    with pytest.raises(StorageError):
        await CabinStore(database).start()
