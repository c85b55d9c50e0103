"""On board a mobile unit: the stop's opening, and the rules of a patient the secretary calls.

On board the cabin opens and closes with the stop, as the secretary's desk says it through the
hub (`StopGate`, a `Schedule` whose opening is the stop's, kept on disk across restarts), not with
the programme's hours; a patient comes in when the secretary calls them, and `call_refusal` says
whether their booking lets them in (docs/design.md, "On board").
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from config.hours import Schedule
from config.schema import MobileUnit
from protocol.eligibility import Verdict, assess
from runtime.storage import Database, transaction
from session.appointments import Appointment


@dataclass(frozen=True)
class CallRefused:
    """Why a called patient cannot come in: a stable `code` for the secretary's desk, and a message."""

    code: str
    message: str


def call_refusal(appt: Appointment | None, site: str, today: date) -> CallRefused | None:
    """None when the booking lets its patient in today at `site`; the secretary decides the time."""
    if appt is None:
        return CallRefused("unknown_code", "this booking code is not known at the vehicle")
    if appt.used_at:
        return CallRefused("already_used", "this booking code has already been used")
    if appt.status == "cancelled":
        return CallRefused("cancelled", "this booking was cancelled")
    if appt.site != site:
        return CallRefused("wrong_site", f"this booking is for another site ({appt.site})")
    if appt.slot_start.date() != today:
        return CallRefused("not_today", f"this booking is for {appt.slot_start:%Y-%m-%d}, not today")
    verdict = assess(appt.birth_date, today, appt.representative or None).verdict
    if verdict is Verdict.REFUSED_UNDER_14:
        return CallRefused("under_14", "the cabin cannot receive patients under 14")
    if verdict is Verdict.NEEDS_REPRESENTATIVE:
        return CallRefused("representative_required", "a patient aged 14 to 17 comes with a legal representative "
                                                      "named in the booking")
    return None


def _load(conn: sqlite3.Connection) -> tuple[str, str]:
    row = conn.execute("SELECT open_on, place FROM stop_state WHERE id = 1").fetchone()
    return (str(row[0]), str(row[1])) if row else ("", "")


def _save(conn: sqlite3.Connection, open_on: str, place: str) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO stop_state (id, open_on, place) VALUES (1, ?, ?)", (open_on, place))


class StopGate(Schedule):
    """The cabin's opening on board: the stop's, as the hub last said it, kept in the state database."""

    def __init__(self, unit: MobileUnit, zone: ZoneInfo, db: Database) -> None:
        super().__init__(unit, zone)
        self._unit = unit
        self._db = db
        self._open_on = ""  # the day the stop was opened, "" while it is closed
        self._named = ""  # the place the hub named for it

    async def start(self) -> None:
        """Take up the stop's state the previous run kept."""
        self._open_on, self._named = await self._db.run(_load)

    async def stop(self) -> None:
        """Nothing to release: every change is on disk."""

    @property
    def opened(self) -> bool:
        """Whether a stop is open, today's or one left open on an earlier day."""
        return bool(self._open_on)

    def opened_before(self, day: date) -> bool:
        """Whether a stop opened before `day` was never said closed (the station was off when it closed, or
        the secretary opened the next stop without closing it): it has ended all the same."""
        return bool(self._open_on) and self._open_on < day.isoformat()

    async def set(self, open_: bool, place: str | None, now: datetime) -> None:
        """Keep the stop's state on disk, then in memory."""
        open_on = now.astimezone(self._zone).date().isoformat() if open_ else ""
        kept = place or ""
        await self._db.run(lambda c: _save(c, open_on, kept))
        self._open_on, self._named = open_on, kept

    def is_open(self, now: datetime) -> bool:
        """Open while the stop is, on the day it was opened: the secretary opens and closes it, not the clock."""
        return self._open_on == now.astimezone(self._zone).date().isoformat()

    def current(self, now: datetime) -> None:
        """No period on board: the stop closes when the secretary says."""
        return None

    def place_of(self, day: date) -> str | None:
        """Where the GP practises on `day`: the place the hub named for the open stop, else the programme's."""
        if self._named and self._open_on == day.isoformat():
            return self._named
        return next((s.place for s in self._unit.stops if s.date == day), None)
