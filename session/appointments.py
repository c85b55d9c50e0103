"""The appointment book: booking codes mapped to appointments, kept in the state database.

Personal data stays only until the patient checks in: `consume` keeps the code, slot and
site (so the code cannot be used twice) and wipes the name, birth date, sex and GP, with
SQLite's secure_delete and a WAL checkpoint so the old bytes do not linger on disk. A
booking whose check-in window closed without a check-in (a no-show) is deleted whole, at
start and then every minute (docs/design.md, "Data and security").

Booking codes are made by the hub and checked here with protocol/booking_code.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from protocol.booking_code import normalise_code
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.storage import Database, transaction
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

SWEEP_S = 60.0  # clock seconds between looks for no-shows


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


def checkin_window(slot_start: datetime, rules: CheckInRules) -> tuple[datetime, datetime]:
    """From when to when a code for the slot starting at `slot_start` is accepted."""
    return (slot_start - timedelta(minutes=rules.early_minutes),
            slot_start + timedelta(minutes=rules.late_minutes))


def _wiping(conn: sqlite3.Connection, write: Callable[[sqlite3.Connection], int]) -> int:
    """Run `write` in a transaction so that what it removes leaves no bytes on disk."""
    conn.execute("PRAGMA secure_delete=ON")
    with transaction(conn):
        changed = write(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return changed


def _delete_closed(conn: sqlite3.Connection, now: datetime, rules: CheckInRules) -> int:
    """Delete the unused bookings whose check-in window closed before `now`; how many went.

    Nothing is written when there is nothing to delete: a full disk does not fail the look.
    """
    rows = conn.execute("SELECT code, slot_start FROM appointments WHERE used_at = ''").fetchall()
    gone = [(str(code),) for code, start in rows
            if checkin_window(datetime.fromisoformat(str(start)), rules)[1] < now]
    if not gone:
        return 0
    return _wiping(conn, lambda w: w.executemany(
        "DELETE FROM appointments WHERE code = ? AND used_at = ''", gone).rowcount)


def _row_to_appointment(row: tuple[object, ...]) -> Appointment:
    code, name, birth, sex, start, minutes, site, gp, used_at = row
    return Appointment(
        code=str(code), patient_name=str(name),
        birth_date=date.fromisoformat(str(birth)) if birth else date.min,
        sex=str(sex), slot_start=datetime.fromisoformat(str(start)), slot_minutes=int(str(minutes)),
        site=str(site), gp=str(gp), used_at=str(used_at),
    )


class AppointmentBook:
    """Appointments by code, through the database thread; it deletes no-shows' bookings."""

    def __init__(self, db: Database, *, audit: AuditTrail, clock: Clock, rules: CheckInRules) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._rules = rules
        self._tasks = TaskSet("appointments", log)

    async def start(self) -> None:
        """Delete the no-shows left from before, then keep doing so every SWEEP_S."""
        await self.delete_no_shows()
        self._tasks.spawn(self._sweep(), "no-shows")

    async def stop(self) -> None:
        """Stop looking for no-shows; safe to call twice."""
        await self._tasks.cancel_all()

    async def _sweep(self) -> None:
        while True:
            await self._clock.sleep(SWEEP_S)
            try:
                await self.delete_no_shows()
            except StationError as exc:
                log.warning("deleting the bookings of no-shows failed (%s): trying again in %.0f s", exc, SWEEP_S)

    async def delete_no_shows(self) -> int:
        """Delete every unused booking whose check-in window has closed, and audit how many (no names)."""
        now, rules = self._clock.now(), self._rules
        count = await self._db.run(lambda c: _delete_closed(c, now, rules))
        if count:
            await self._audit.append(now, "", "no_shows_deleted", count=count)
        return count

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

        def write(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE appointments SET patient_name = '', birth_date = '', sex = '', gp = '', "
                "used_at = ?, used_session = ? WHERE code = ?",
                (at.isoformat(), session, code),
            ).rowcount

        await self._db.run(lambda c: _wiping(c, write))
