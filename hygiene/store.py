"""The cabin's persisted state and its cleaning mark.

The mark is set in its own committed transaction (WAL, synchronous=FULL) before a
patient gets past check-in, and only `clear_mark` with a `CleaningProof` (which only a
completed cleaning run produces) removes it: no restart, timeout or technician path can.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hygiene.cleaning import CleaningProof
from runtime.storage import Database, transaction

_COLUMNS = (
    "state, session, cleaning_required, mark_session, mark_set_at, last_consultation_end, "
    "last_cleaning_at, last_cleaned_by, out_of_service_reason, updated_at"
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
        }


def read_record(conn: sqlite3.Connection) -> CabinRecord:
    """Read the state row."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM cabin_state WHERE id = 1").fetchone()
    values = list(row)
    values[2] = bool(values[2])
    return CabinRecord(*values)


def _update(conn: sqlite3.Connection, at: datetime, **fields: object) -> CabinRecord:
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with transaction(conn):
        conn.execute(
            f"UPDATE cabin_state SET {assignments}, updated_at = ? WHERE id = 1",
            (*fields.values(), at.isoformat()),
        )
    return read_record(conn)


class CabinStore:
    """Reads and writes the cabin's state row through the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> CabinRecord:
        """The persisted record (the row comes with the schema, runtime.schema)."""
        return await self.load()

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

    async def record_consultation_end(self, at: datetime) -> CabinRecord:
        """Note when the last consultation ended."""
        return await self._db.run(lambda c: _update(c, at, last_consultation_end=at.isoformat()))

    async def clear_mark(self, proof: CleaningProof) -> CabinRecord:
        """Clear the mark: only a completed cleaning, confirmed by a referent's badge, can."""
        at = proof.finished_at
        return await self._db.run(
            lambda c: _update(
                c, at, cleaning_required=0, mark_session="", mark_set_at="",
                last_cleaning_at=at.isoformat(), last_cleaned_by=proof.confirmed_by,
            )
        )

    async def set_out_of_service(self, at: datetime, reason: str) -> CabinRecord:
        """Record why the cabin is out of service ('' when back in service)."""
        return await self._db.run(lambda c: _update(c, at, out_of_service_reason=reason))
