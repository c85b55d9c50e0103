"""The cabin's persisted state and its cleaning mark.

The mark is set in its own committed transaction (WAL, synchronous=FULL) before a
patient gets past check-in, and only `clear_mark` with a `CleaningProof` (which only a
completed cleaning run produces) removes it: no restart, timeout or technician path can.
At start, a mark that the state row and the audit trail disagree about counts as set
(docs/design.md, "The audit chain").
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hygiene.cleaning import CleaningProof
from runtime.storage import Database, transaction

log = logging.getLogger(__name__)

_COLUMNS = (
    "state, session, cleaning_required, mark_session, mark_set_at, last_consultation_end, "
    "last_cleaning_at, last_cleaned_by, out_of_service_reason, updated_at, closing_due"
)


@dataclass(frozen=True)
class CabinRecord:
    """What the cabin last wrote about itself."""

    state: str
    session: str
    cleaning_required: bool
    mark_session: str
    mark_set_at: str
    last_consultation_end: str
    last_cleaning_at: str
    last_cleaned_by: str
    out_of_service_reason: str
    updated_at: str
    closing_due: bool = False  # on board: the mark calls for the full closing protocol (docs/design.md, "On board")

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view for `cabin status --json`."""
        return {
            "state": self.state,
            "session": self.session,
            "cleaning_required": self.cleaning_required,
            "cleaning_mark": {"session": self.mark_session, "set_at": self.mark_set_at}
            if self.cleaning_required
            else None,
            "last_consultation_end": self.last_consultation_end or None,
            "last_cleaning_at": self.last_cleaning_at or None,
            "out_of_service_reason": self.out_of_service_reason or None,
            "updated_at": self.updated_at or None,
            "closing_cleaning_due": self.closing_due,
        }


def read_record(conn: sqlite3.Connection) -> CabinRecord:
    """Read the state row."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM cabin_state WHERE id = 1").fetchone()
    values = list(row)
    values[2], values[10] = bool(values[2]), bool(values[10])
    return CabinRecord(*values)


def _update(conn: sqlite3.Connection, at: datetime, **fields: object) -> CabinRecord:
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with transaction(conn):
        conn.execute(
            f"UPDATE cabin_state SET {assignments}, updated_at = ? WHERE id = 1",
            (*fields.values(), at.isoformat()),
        )
    return read_record(conn)


def reconcile_mark(conn: sqlite3.Connection) -> CabinRecord:
    """The state row, with its cleaning mark set if the audit trail's last word on the mark is that it was set,
    and calling for the closing protocol if the trail says a stop closed since the last cleaning.

    The mark is set on the row, then audited; it is cleared after its proof is audited. So a
    trail with a `cleaning_mark_set` (or, on board, a `closing_cleaning_due`) after its last
    `cleaning_cleared` while the row has no mark, or not the closing one, means the row was
    changed behind the cabin's back (or lost a write): the cabin counts as needing that cleaning.
    A row marked while the trail's last word is `cleaning_cleared` (a crash between the two
    writes of a clearing) stays marked. Either way, a log line says why.
    """
    record = read_record(conn)
    (cleared,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit WHERE event = 'cleaning_cleared'").fetchone()
    since = conn.execute(
        "SELECT session, at, event, detail FROM audit WHERE seq > ? "
        "AND event IN ('cleaning_mark_set', 'closing_cleaning_due') ORDER BY seq", (cleared,)).fetchall()
    if not since:
        if cleared and record.cleaning_required:
            log.warning("the state row has a cleaning mark but the audit trail's last word is a cleaning confirmed: "
                        "the mark stays set until a cleaning is confirmed")
        return record
    session, at = str(since[0][0]), str(since[0][1])
    closing = any(event == "closing_cleaning_due" or json.loads(detail).get("closing") is True
                  for _, _, event, detail in since)
    if record.cleaning_required and (record.closing_due or not closing):
        return record
    log.warning("the state row has %s but the audit trail says %s since the last cleaning (session %s at %s): the "
                "cabin counts as needing it until a cleaning is confirmed",
                "no cleaning mark" if not record.cleaning_required else "a mark for the light cleaning",
                "a stop closed" if closing else "a mark set", session, at)
    with transaction(conn):
        if record.cleaning_required:
            conn.execute("UPDATE cabin_state SET closing_due = 1 WHERE id = 1")
        else:
            conn.execute("UPDATE cabin_state SET cleaning_required = 1, mark_session = ?, mark_set_at = ?, "
                         "closing_due = ? WHERE id = 1", (session, at, int(closing)))
    return read_record(conn)


class CabinStore:
    """Reads and writes the cabin's state row through the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> CabinRecord:
        """The persisted record, its mark set if the audit trail disagrees (the row comes with the schema)."""
        return await self._db.run(reconcile_mark)

    async def stop(self) -> None:
        """Nothing to release; present for the component lifecycle."""

    async def load(self) -> CabinRecord:
        """The persisted record."""
        return await self._db.run(read_record)

    async def record_state(self, at: datetime, state: str, session: str) -> CabinRecord:
        """Persist the state the cabin has just entered."""
        return await self._db.run(lambda c: _update(c, at, state=state, session=session))

    async def set_mark(self, at: datetime, session: str) -> CabinRecord:
        """Durably mark the cabin as needing cleaning after `session`."""
        return await self._db.run(
            lambda c: _update(c, at, cleaning_required=1, mark_session=session, mark_set_at=at.isoformat())
        )

    async def set_closing_mark(self, at: datetime, session: str) -> CabinRecord:
        """On board, the stop closed: the mark calls for the closing protocol (a mark already set keeps its session)."""

        def write(conn: sqlite3.Connection) -> CabinRecord:
            if read_record(conn).cleaning_required:
                return _update(conn, at, closing_due=1)
            return _update(conn, at, cleaning_required=1, mark_session=session, mark_set_at=at.isoformat(),
                           closing_due=1)

        return await self._db.run(write)

    async def record_consultation_end(self, at: datetime) -> CabinRecord:
        """Note when the last consultation ended."""
        return await self._db.run(lambda c: _update(c, at, last_consultation_end=at.isoformat()))

    async def clear_mark(self, proof: CleaningProof) -> CabinRecord:
        """Clear the mark: only a completed cleaning, confirmed by a referent's badge, can."""
        at = proof.finished_at
        return await self._db.run(
            lambda c: _update(
                c, at, cleaning_required=0, mark_session="", mark_set_at="", closing_due=0,
                last_cleaning_at=at.isoformat(), last_cleaned_by=proof.confirmed_by,
            )
        )

    async def set_out_of_service(self, at: datetime, reason: str) -> CabinRecord:
        """Record why the cabin is out of service ('' when back in service)."""
        return await self._db.run(lambda c: _update(c, at, out_of_service_reason=reason))
