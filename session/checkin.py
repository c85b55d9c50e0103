"""Check-in rules: a valid code, in its time window, at this site, not paused by wrong codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from config.schema import CheckInRules
from runtime.errors import StationError
from session.appointments import Appointment, AppointmentBook, normalise_code


class Refusal(StrEnum):
    """Why a code was not accepted; the kiosk shows a message for each."""

    UNKNOWN_CODE = "unknown_code"
    ALREADY_USED = "already_used"
    WRONG_SITE = "wrong_site"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    PAUSED = "paused"


class CheckInRefused(StationError):
    """A code was refused; `reason` says why, `retry_after_s` how long a pause lasts, `opens_at` when
    a code that came too early is accepted."""

    def __init__(self, reason: Refusal, detail: str, retry_after_s: float = 0.0,
                 opens_at: datetime | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.opens_at = opens_at


def checkin_window(slot_start: datetime, rules: CheckInRules) -> tuple[datetime, datetime]:
    """From when to when a code for the slot starting at `slot_start` is accepted."""
    return (slot_start - timedelta(minutes=rules.early_minutes),
            slot_start + timedelta(minutes=rules.late_minutes))


@dataclass
class _WrongCodes:
    count: int = 0
    paused_until: float = 0.0


class CheckInDesk:
    """Checks codes against the book and slows down guessing."""

    def __init__(self, book: AppointmentBook, rules: CheckInRules, site_code: str) -> None:
        self._book = book
        self._rules = rules
        self._site = site_code
        self._wrong = _WrongCodes()

    def paused_for(self, monotonic: float) -> float:
        """Seconds left in a wrong-code pause, 0 when not paused."""
        return max(0.0, self._wrong.paused_until - monotonic)

    async def verify(self, raw_code: str, now: datetime, monotonic: float) -> Appointment:
        """The appointment a code opens now, or CheckInRefused."""
        left = self.paused_for(monotonic)
        if left > 0:
            raise CheckInRefused(Refusal.PAUSED, f"too many wrong codes: wait {left:.0f} s", left)
        code = normalise_code(raw_code)
        appt = await self._book.find(code) if code else None
        if appt is None:
            self._count_wrong(monotonic)
            raise CheckInRefused(Refusal.UNKNOWN_CODE, "this code is not known: check your confirmation")
        accepted = self._check_window(appt, now)
        self._wrong = _WrongCodes()  # only a code that opens the cabin ends a run of wrong ones
        return accepted

    def _count_wrong(self, monotonic: float) -> None:
        self._wrong.count += 1
        if self._wrong.count >= self._rules.max_wrong_codes:
            self._wrong = _WrongCodes(0, monotonic + self._rules.pause_s)

    def _check_window(self, appt: Appointment, now: datetime) -> Appointment:
        if appt.used_at:
            raise CheckInRefused(Refusal.ALREADY_USED, "this code has already been used")
        if appt.site != self._site:
            raise CheckInRefused(Refusal.WRONG_SITE, f"this appointment is at another site ({appt.site})")
        opens, closes = checkin_window(appt.slot_start, self._rules)
        if now < opens:
            raise CheckInRefused(Refusal.TOO_EARLY, f"too early: check-in opens at {opens:%H:%M}", opens_at=opens)
        if now > closes:
            raise CheckInRefused(Refusal.TOO_LATE, f"too late: check-in closed at {closes:%H:%M}")
        return appt
