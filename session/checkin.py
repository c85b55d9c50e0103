"""Check-in rules: a valid code, in its time window, at this site, not paused by wrong codes.

Guessing is slowed down by one count for the whole kiosk, kept in the state database so that
a restart does not clear it (docs/design.md, "Data and security"): every refused code counts,
and so does a valid code whose name the person at the screen rejects; only a confirmed
check-in, or `forget_after_s` with no code typed, starts the count again. Every
`max_wrong_codes` counted codes pause check-in, each pause twice as long as the one before, up
to `max_pause_s`. The audit trail gets one `wrong_codes` entry per run of refused codes (when it
ends in a pause, a confirmed check-in or is forgotten), not one per code. A code the hub
cancelled is refused without being counted: it is a real code, not a guess (docs/design.md,
"Bookings at the cabin").
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from protocol.booking_code import normalise_code
from runtime.errors import StationError
from runtime.storage import Database, transaction
from session.appointments import Appointment, AppointmentBook, checkin_window

NOT_ME = "not_me"  # the reason counted when a valid code's name is rejected


class Refusal(StrEnum):
    """Why a code was not accepted; the kiosk shows a message for each."""

    UNKNOWN_CODE = "unknown_code"
    ALREADY_USED = "already_used"
    WRONG_SITE = "wrong_site"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class CheckInRefused(StationError):
    """A code was refused; `reason` says why, `retry_after_s` how long a pause lasts, `opens_at` when
    a code that came too early is accepted."""

    def __init__(self, reason: Refusal, detail: str, retry_after_s: float = 0.0,
                 opens_at: datetime | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.opens_at = opens_at


@dataclass(frozen=True)
class Attempts:
    """The kiosk's count of refused codes, as kept in the database's `checkin_attempts` row."""

    failures: int = 0  # counted codes since the last pause
    pauses: int = 0  # pauses since the count last started again: the next one is longer
    paused_until: datetime | None = None
    first_at: datetime | None = None  # the first counted code not yet in the audit trail
    last_at: datetime | None = None  # the last code typed, counted or not
    reasons: dict[str, int] = field(default_factory=dict)  # counted codes not yet audited, by reason
    while_paused: int = 0  # codes typed during a pause, not yet audited

    def paused_for(self, now: datetime) -> float:
        """Seconds left in the pause, 0 when codes are taken."""
        return max(0.0, (self.paused_until - now).total_seconds()) if self.paused_until else 0.0

    def report(self, pause_s: float = 0.0) -> dict[str, object] | None:
        """The audit entry's detail for what is not yet audited, None when there is nothing."""
        if not self.reasons and not self.while_paused:
            return None
        return {"count": sum(self.reasons.values()), "reasons": dict(sorted(self.reasons.items())),
                "first": self.first_at.isoformat() if self.first_at else "",
                "last": self.last_at.isoformat() if self.last_at else "",
                "while_paused": self.while_paused, "pause_s": pause_s}


def settle(a: Attempts, now: datetime, rules: CheckInRules) -> tuple[Attempts, dict[str, object] | None]:
    """The count as of `now`: a pause ending later than `max_pause_s` from now (the clock was set back)
    ends then; after `forget_after_s` without a code the count starts again, and what it held is reported."""
    if a.paused_for(now) > rules.max_pause_s:
        a = replace(a, paused_until=now + timedelta(seconds=rules.max_pause_s))
    if a.last_at is None or (now - a.last_at).total_seconds() < rules.forget_after_s or a.paused_for(now) > 0:
        return a, None
    return Attempts(), a.report()


def count_attempt(a: Attempts, reason: str, now: datetime,
                  rules: CheckInRules) -> tuple[Attempts, dict[str, object] | None]:
    """One more counted code; at `max_wrong_codes` a pause starts and the run is reported."""
    reasons = Counter(a.reasons)
    reasons[reason] += 1
    a = replace(a, failures=a.failures + 1, first_at=a.first_at or now, last_at=now, reasons=dict(reasons))
    if a.failures < rules.max_wrong_codes:
        return a, None
    pause = min(rules.pause_s * 2 ** min(a.pauses, 32), rules.max_pause_s)
    report = a.report(pause)
    return Attempts(pauses=a.pauses + 1, paused_until=now + timedelta(seconds=pause), last_at=now), report


def typed_while_paused(a: Attempts, now: datetime) -> Attempts:
    """A code typed during a pause: not looked at, not counted, reported with the next run."""
    return replace(a, while_paused=a.while_paused + 1, last_at=now)


def _time(text: object) -> datetime | None:
    return datetime.fromisoformat(str(text)) if text else None


def _load(conn: sqlite3.Connection) -> Attempts:
    row = conn.execute("SELECT failures, pauses, paused_until, first_at, last_at, reasons, while_paused "
                       "FROM checkin_attempts WHERE id = 1").fetchone()
    if row is None:
        return Attempts()
    failures, pauses, paused_until, first_at, last_at, reasons, while_paused = row
    return Attempts(int(failures), int(pauses), _time(paused_until), _time(first_at), _time(last_at),
                    {str(k): int(v) for k, v in json.loads(str(reasons)).items()}, int(while_paused))


def _save(conn: sqlite3.Connection, a: Attempts) -> None:
    def iso(at: datetime | None) -> str:
        return at.isoformat() if at else ""

    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO checkin_attempts (id, failures, pauses, paused_until, first_at, last_at, "
            "reasons, while_paused) VALUES (1,?,?,?,?,?,?,?)",
            (a.failures, a.pauses, iso(a.paused_until), iso(a.first_at), iso(a.last_at),
             json.dumps(a.reasons, sort_keys=True), a.while_paused),
        )


class CheckInDesk:
    """Checks codes against the book and slows down guessing, across restarts."""

    def __init__(self, book: AppointmentBook, rules: CheckInRules, site_code: str, *,
                 db: Database, audit: AuditTrail) -> None:
        self._book = book
        self._rules = rules
        self._site = site_code
        self._db = db
        self._audit = audit
        self._attempts = Attempts()

    async def start(self) -> None:
        """Read the count and any pause left by the previous run."""
        self._attempts = await self._db.run(_load)

    async def stop(self) -> None:
        """Nothing to release: every change is already on disk."""

    def paused_for(self, now: datetime) -> float:
        """Seconds left in a wrong-code pause, 0 when not paused (never more than the longest pause)."""
        return min(self._attempts.paused_for(now), self._rules.max_pause_s)

    async def verify(self, raw_code: str, now: datetime) -> Appointment:
        """The appointment a code opens now, or CheckInRefused."""
        attempts, report = settle(self._attempts, now, self._rules)
        left = attempts.paused_for(now)
        if left > 0:
            await self._record(typed_while_paused(attempts, now), report, now)
            raise CheckInRefused(Refusal.PAUSED, f"too many wrong codes: wait {left:.0f} s", left)
        code = normalise_code(raw_code)
        appt = await self._book.find(code) if code else None
        if appt is not None and appt.status == "cancelled" and not appt.used_at:
            await self._record(attempts, report, now)  # a real code the hub cancelled: not a guess
            raise CheckInRefused(Refusal.CANCELLED, "this booking was cancelled")
        try:
            if appt is None:
                raise CheckInRefused(Refusal.UNKNOWN_CODE, "this code is not known: check your confirmation")
            accepted = self._check_window(appt, now)
        except CheckInRefused as refused:
            await self._count(attempts, report, refused.reason.value, now)
            raise
        # A valid code leaves the count as it is (nothing written): only a confirmed check-in resets it.
        await self._record(attempts, report, now)
        return accepted

    async def not_me(self, now: datetime) -> None:
        """The name a valid code showed was rejected: that counts like a wrong code."""
        attempts, report = settle(self._attempts, now, self._rules)
        await self._count(attempts, report, NOT_ME, now)

    async def confirmed(self, now: datetime) -> None:
        """Check-in was accepted: the count starts again, and what it held is audited."""
        await self._record(Attempts(), self._attempts.report(), now)

    async def _count(self, attempts: Attempts, report: dict[str, object] | None, reason: str,
                     now: datetime) -> None:
        if report is not None:  # the forgotten run's entry first, then this one's
            await self._record(attempts, report, now)
        counted, report = count_attempt(attempts, reason, now, self._rules)
        await self._record(counted, report, now)

    async def _record(self, attempts: Attempts, report: dict[str, object] | None, now: datetime) -> None:
        """Keep the count on disk, then audit a finished run (a crash in between loses the entry, not the pause)."""
        if attempts != self._attempts:
            await self._db.run(lambda c: _save(c, attempts))
            self._attempts = attempts
        if report is not None:
            await self._audit.append(now, "", "wrong_codes", **report)

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
