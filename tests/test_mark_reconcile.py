"""A cleaning mark that the state row and the audit trail disagree about counts as set at start (hygiene/store.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hygiene.audit import AuditTrail
from hygiene.store import CabinStore
from protocol.states import CabinState
from runtime.clock import PARIS
from runtime.storage import Database
from tests.conftest import running_station

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)


async def test_a_mark_the_trail_says_is_set_counts_as_set_at_start(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    db = Database(tmp_path)
    await db.start()
    try:
        trail = AuditTrail(db)
        await trail.start()
        await trail.append(T0, "0123456789abcdef", "cleaning_mark_set")  # the row's mark never written, or undone
        assert not (await CabinStore(db).load()).cleaning_required
    finally:
        await db.stop()
    async with running_station(tmp_path) as (station, _):
        assert station.cabin.state is CabinState.AWAITING_CLEANING
        record = await station.store.load()
        assert record.cleaning_required and record.mark_session == "0123456789abcdef"
    assert "the audit trail says a mark set since the last cleaning (session 0123456789abcdef" in caplog.text


async def test_a_mark_cleared_on_the_trail_but_set_on_the_row_stays_set(db: Database,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    trail = AuditTrail(db)
    await trail.start()
    store = CabinStore(db)
    await store.set_mark(T0, "s1")
    await trail.append(T0 + timedelta(minutes=30), "-", "cleaning_cleared")  # a crash before the row heard of it
    assert (await store.start()).cleaning_required
    assert "the mark stays set" in caplog.text


async def test_a_closing_cleaning_the_trail_says_is_due_is_not_downgraded_at_start(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    trail = AuditTrail(db)
    await trail.start()
    store = CabinStore(db)
    await store.set_mark(T0, "s1")  # the light cleaning between patients, due...
    await trail.append(T0, "s1", "cleaning_mark_set")
    await trail.append(T0 + timedelta(minutes=5), "s1", "closing_cleaning_due", closing=True)  # ...then the stop closed
    assert not (await store.load()).closing_due  # the row lost that write
    record = await store.start()
    assert record.cleaning_required and record.closing_due and record.mark_session == "s1"
    assert "a mark for the light cleaning but the audit trail says a stop closed" in caplog.text


async def test_a_mark_set_when_a_stop_closed_comes_back_calling_for_the_closing_cleaning(db: Database) -> None:
    trail = AuditTrail(db)
    await trail.start()
    store = CabinStore(db)
    await trail.append(T0, "-", "cleaning_mark_set", closing=True)  # the row's write of it undone
    record = await store.start()
    assert record.cleaning_required and record.closing_due
