"""The appointment book: booking codes mapped to appointments, kept in the state database.

Personal data stays only until the patient checks in: `consume` keeps the code, slot and
site (so the code cannot be used twice) and wipes the name, birth date, sex and GP, with
SQLite's secure_delete and a WAL checkpoint so the old bytes do not linger on disk. A
booking whose check-in window closed without a check-in (a no-show; on board, once its day is
over) is deleted whole, at start and then every minute (docs/design.md, "Data and security").

Booking codes are made by the hub and checked here with protocol/booking_code.py. The hub sends
the station its bookings (docs/design.md, "Bookings at the cabin"): `replace` takes the whole set
after each connection, `apply` one change, `withdraw` one that left the cabin. A used code stays
used whatever the hub says; a cancelled booking is kept, without the patient's data, so that the
kiosk can say it was cancelled, and deleted like a no-show's once its window has closed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from protocol.booking_code import normalise_code
from protocol.hub import CabinBooking
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
    gp: str  # the GP's name
    used_at: str = ""
    representative: str = ""
    gp_username: str = ""  # the hub's username of the GP the booking names: their first claim
    status: str = "booked"  # or "cancelled" (by the hub)


def checkin_window(slot_start: datetime, rules: CheckInRules) -> tuple[datetime, datetime]:
    """From when to when a code for the slot starting at `slot_start` is accepted."""
    return (slot_start - timedelta(minutes=rules.early_minutes),
            slot_start + timedelta(minutes=rules.late_minutes))


def end_of_day(slot_start: datetime, zone: tzinfo) -> datetime:
    """Midnight after the slot's day in `zone`: on board, an unused booking is kept until then, the secretary
    calling patients in when she decides (docs/design.md, "On board")."""
    day = slot_start.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(0), zone)


def _wiping(conn: sqlite3.Connection, write: Callable[[sqlite3.Connection], int]) -> int:
    """Run `write` in a transaction so that what it removes leaves no bytes on disk."""
    conn.execute("PRAGMA secure_delete=ON")
    with transaction(conn):
        changed = write(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return changed


def _delete_closed(conn: sqlite3.Connection, now: datetime,
                   closes: Callable[[datetime], datetime]) -> tuple[int, int]:
    """Delete the unused bookings whose check-in window closed before `now`; how many went, of the
    live ones (no-shows) and of the cancelled ones.

    Nothing is written when there is nothing to delete: a full disk does not fail the look.
    """
    rows = conn.execute("SELECT code, slot_start, status FROM appointments WHERE used_at = ''").fetchall()
    gone = [(str(code), str(status)) for code, start, status in rows
            if closes(datetime.fromisoformat(str(start))) < now]
    if not gone:
        return 0, 0
    _wiping(conn, lambda w: w.executemany(
        "DELETE FROM appointments WHERE code = ? AND used_at = ''", [(code,) for code, _ in gone]).rowcount)
    cancelled = sum(1 for _, status in gone if status == "cancelled")
    return len(gone) - cancelled, cancelled


_COLUMNS = ("code, patient_name, birth_date, sex, slot_start, slot_minutes, site, gp, used_at, representative, "
            "gp_username, status")


def _row_to_appointment(row: tuple[object, ...], zone: tzinfo) -> Appointment:
    """A row as an appointment whose slot is in `zone`, the cabin's: the hub sends its times in UTC."""
    code, name, birth, sex, start, minutes, site, gp, used_at, representative, gp_username, status = row
    return Appointment(
        code=str(code), patient_name=str(name),
        birth_date=date.fromisoformat(str(birth)) if birth else date.min,
        sex=str(sex), slot_start=datetime.fromisoformat(str(start)).astimezone(zone), slot_minutes=int(str(minutes)),
        site=str(site), gp=str(gp), used_at=str(used_at), representative=str(representative),
        gp_username=str(gp_username), status=str(status),
    )


def _hub_row(b: CabinBooking) -> tuple[object, ...]:
    """A booking from the hub as the columns `_upsert` writes (a cancelled one has no patient data)."""
    return (b.code, b.patient_name or "", b.birth_date.isoformat() if b.birth_date else "", b.sex or "",
            b.slot_start.isoformat(), b.slot_minutes, b.site, b.gp_name or "", b.representative or "",
            b.gp or "", b.status)


def _upsert(conn: sqlite3.Connection, bookings: list[CabinBooking]) -> None:
    """Write bookings from the hub; a used code is left as it is (used, its patient data wiped)."""
    conn.executemany(
        "INSERT INTO appointments (code, patient_name, birth_date, sex, slot_start, slot_minutes, site, gp, "
        "representative, gp_username, status, from_hub) VALUES (?,?,?,?,?,?,?,?,?,?,?,1) "
        "ON CONFLICT (code) DO UPDATE SET patient_name = excluded.patient_name, birth_date = excluded.birth_date, "
        "sex = excluded.sex, slot_start = excluded.slot_start, slot_minutes = excluded.slot_minutes, "
        "site = excluded.site, gp = excluded.gp, representative = excluded.representative, "
        "gp_username = excluded.gp_username, status = excluded.status, from_hub = 1 WHERE used_at = ''",
        [_hub_row(b) for b in bookings])


def _replace(conn: sqlite3.Connection, bookings: list[CabinBooking], keep: set[str]) -> int:
    """The hub's whole set (`keep`, its codes): write `bookings`, and delete the unused hub bookings it no
    longer holds; how many went."""
    held = [str(code) for (code,) in conn.execute("SELECT code FROM appointments WHERE from_hub = 1 AND used_at = ''")]
    gone = [(code,) for code in held if code not in keep]
    conn.executemany("DELETE FROM appointments WHERE code = ? AND used_at = ''", gone)
    _upsert(conn, bookings)
    return len(gone)


class AppointmentBook:
    """Appointments by code, through the database thread; it deletes no-shows' bookings."""

    def __init__(self, db: Database, *, audit: AuditTrail, clock: Clock, rules: CheckInRules,
                 whole_day: bool = False) -> None:
        """`whole_day`: on board, an unused booking stays until the end of its day, not of its check-in window."""
        self._db = db
        self._audit = audit
        self._clock = clock
        self._rules = rules
        self._whole_day = whole_day
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
        now = self._clock.now()
        count, cancelled = await self._db.run(lambda c: _delete_closed(c, now, self._closes))
        if count:
            await self._audit.append(now, "", "no_shows_deleted", count=count)
        if cancelled:
            await self._audit.append(now, "", "cancelled_bookings_deleted", count=cancelled)
        return count

    def _open(self, bookings: tuple[CabinBooking, ...]) -> list[CabinBooking]:
        """The bookings whose check-in window has not closed: the others would only be deleted again."""
        now = self._clock.now()
        return [b for b in bookings if self._closes(b.slot_start) >= now]

    def _closes(self, slot_start: datetime) -> datetime:
        """When an unused booking goes: at the end of its check-in window, or on board of its day."""
        if self._whole_day:
            return end_of_day(slot_start, self._clock.zone)
        return checkin_window(slot_start, self._rules)[1]

    async def replace(self, bookings: tuple[CabinBooking, ...]) -> None:
        """Take the hub's whole set of this cabin's bookings: the unused ones it no longer holds go."""
        kept, codes = self._open(bookings), {b.code for b in bookings}
        try:
            gone = await self._db.run(lambda c: _wiping(c, lambda w: _replace(w, kept, codes)))
        except StationError as exc:
            raise AppointmentError(f"the hub's bookings cannot be kept: {exc}") from exc
        log.info("bookings from the hub: %d kept, %d no longer booked removed", len(kept), gone)

    async def apply(self, booking: CabinBooking) -> None:
        """Take one booking made, moved or cancelled on the hub."""
        kept = self._open((booking,))

        def write(conn: sqlite3.Connection) -> int:
            _upsert(conn, kept)
            return len(kept)

        try:
            await self._db.run(lambda c: _wiping(c, write))
        except StationError as exc:
            raise AppointmentError(f"the hub's booking {booking.code} cannot be kept: {exc}") from exc

    async def withdraw(self, code: str) -> None:
        """Forget a booking the hub took away from this cabin (moved elsewhere, a no-show); a used code stays."""
        await self._db.run(lambda c: _wiping(c, lambda w: w.execute(
            "DELETE FROM appointments WHERE code = ? AND used_at = ''", (code,)).rowcount))

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
                f"SELECT {_COLUMNS} FROM appointments WHERE code = ?", (code,),
            ).fetchone()
        )
        return _row_to_appointment(row, self._clock.zone) if row else None

    async def consume(self, code: str, at: datetime, session: str) -> None:
        """Mark a code used and wipe the patient's personal data from the disk."""

        def write(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE appointments SET patient_name = '', birth_date = '', sex = '', gp = '', representative = '', "
                "gp_username = '', used_at = ?, used_session = ? WHERE code = ?",
                (at.isoformat(), session, code),
            ).rowcount

        await self._db.run(lambda c: _wiping(c, write))
