"""The appointment book: booking codes mapped to appointments, kept in the state database.

Personal data stays only until the patient checks in: `consume` keeps the code, slot and
site (so the code cannot be used twice) and wipes the name, birth date, sex and GP, with
SQLite's secure_delete and a WAL checkpoint so the old bytes do not linger on disk.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from runtime.errors import StationError
from runtime.storage import Database, transaction

_CODE = re.compile(r"^[A-Z0-9]{4,12}$")

class AppointmentError(StationError):
    """An appointment cannot be stored or read."""


@dataclass(frozen=True)
class Appointment:
    """One booked consultation."""

    code: str
    patient_name: str
    birth_date: date
    sex: str
    slot_start: datetime
    slot_minutes: int
    site: str
    gp: str
    used_at: str = ""


def normalise_code(raw: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), or None if it cannot be one."""
    text = re.sub(r"[\s-]", "", raw).upper()
    return text if _CODE.match(text) else None


def _row_to_appointment(row: tuple[object, ...]) -> Appointment:
    code, name, birth, sex, start, minutes, site, gp, used_at = row
    return Appointment(
        code=str(code), patient_name=str(name),
        birth_date=date.fromisoformat(str(birth)) if birth else date.min,
        sex=str(sex), slot_start=datetime.fromisoformat(str(start)), slot_minutes=int(str(minutes)),
        site=str(site), gp=str(gp), used_at=str(used_at),
    )


class AppointmentBook:
    """Appointments by code, through the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> None:
        """Nothing to prepare: the table comes with the schema (runtime.schema)."""

    async def stop(self) -> None:
        """Nothing to release; present for the component lifecycle."""

    async def add(self, appt: Appointment) -> None:
        """Book an appointment; a code already booked is an error."""
        if normalise_code(appt.code) != appt.code:
            raise AppointmentError(f"invalid booking code {appt.code!r}")
        if appt.slot_start.tzinfo is None:
            raise AppointmentError("an appointment's slot start needs a time zone")

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO appointments (code, patient_name, birth_date, sex, slot_start, "
                    "slot_minutes, site, gp) VALUES (?,?,?,?,?,?,?,?)",
                    (appt.code, appt.patient_name, appt.birth_date.isoformat(), appt.sex,
                     appt.slot_start.isoformat(), appt.slot_minutes, appt.site, appt.gp),
                )

        try:
            await self._db.run(write)
        except StationError as exc:
            raise AppointmentError(f"cannot book code {appt.code}: {exc}") from exc

    async def find(self, code: str) -> Appointment | None:
        """The appointment for a normalised code, if any."""
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT code, patient_name, birth_date, sex, slot_start, slot_minutes, site, gp, used_at "
                "FROM appointments WHERE code = ?", (code,),
            ).fetchone()
        )
        return _row_to_appointment(row) if row else None

    async def consume(self, code: str, at: datetime, session: str) -> None:
        """Mark a code used and wipe the patient's personal data from the disk."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA secure_delete=ON")
            with transaction(conn):
                conn.execute(
                    "UPDATE appointments SET patient_name = '', birth_date = '', sex = '', gp = '', "
                    "used_at = ?, used_session = ? WHERE code = ?",
                    (at.isoformat(), session, code),
                )
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._db.run(write)
