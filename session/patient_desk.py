"""The patient's actions: check-in, identity, eligibility and consent, leaving."""

from __future__ import annotations

from config.schema import CheckInRules
from hygiene.audit import AuditTrail
from protocol.booking_code import normalise_code
from protocol.eligibility import Verdict, assess
from protocol.states import CabinState
from runtime.storage import Database
from session.appointments import AppointmentBook
from session.checkin import CheckInDesk, CheckInRefused
from session.consultation import CodeRefused
from session.core import CabinCore, CabinRefusal
from session.events import ScreenChanged
from session.machine import PATIENT_STATES
from session.on_board import call_refusal

S = CabinState
_TOUCHABLE = (S.CHECKING_IN, S.ELIGIBILITY, S.CLEANING)


class PatientDesk:
    """What the touchscreen lets a patient do."""

    def __init__(self, core: CabinCore, *, book: AppointmentBook, rules: CheckInRules, site_code: str,
                 audit: AuditTrail, db: Database) -> None:
        self._core = core
        self._audit = audit
        self._book = book
        self._site = site_code
        self._codes = CheckInDesk(book, rules, site_code, db=db, audit=audit)

    async def start(self) -> None:
        """Take up the wrong-code count and pause where the previous run left them."""
        await self._codes.start()

    async def stop(self) -> None:
        """Stop the check-in desk."""
        await self._codes.stop()

    def checkin_paused_for(self) -> float:
        """Seconds left in a wrong-code pause, 0 when codes are accepted."""
        return self._codes.paused_for(self._core.clock.now())

    async def touch(self) -> None:
        """The person at the screen did something: restart the inactivity timer."""

        async def step() -> None:
            if self._core.state in _TOUCHABLE:
                self._core.restart_timer()

        await self._core.act(step)

    async def submit_code(self, code: str) -> dict[str, object]:
        """Check a booking code; on success, the name and birth year to confirm."""
        core = self._core

        async def step() -> dict[str, object]:
            if core.state is S.READY:
                await self._begin()
            core.require(S.CHECKING_IN)
            core.restart_timer()
            c = core.current()
            now = core.clock.now()
            try:
                appt = await self._codes.verify(code, now)
            except CheckInRefused as exc:  # audited by the check-in desk, one entry per run of refusals
                c.refusal = CodeRefused(exc.reason.value, str(exc), exc.retry_after_s, exc.opens_at)
                core.emit(ScreenChanged(c.session))
                raise CabinRefusal(exc.reason.value, str(exc), retry_after_s=round(exc.retry_after_s)) from exc
            c.appointment, c.refusal = appt, None
            core.emit(ScreenChanged(c.session))
            return {"name": appt.patient_name, "birth_year": appt.birth_date.year}

        return await core.act(step)

    async def _begin(self) -> None:
        self._core.require(S.READY)
        if not self._core.admission_allowed():
            raise CabinRefusal("not_clean", "the cabin is not available")
        self._core.new_consultation()
        await self._core.fire("begin")

    async def admit_called(self, code: str, visit: str) -> None:
        """On board, the secretary calls a patient (identity checked at her desk): check them in, to the GP.

        No time window (the secretary decides when) and no wrong-code count (a call is no guess); the
        booking and the age rule decide, then the mark is set as at any check-in (docs/design.md, "On board").
        """
        core = self._core

        async def step() -> None:
            self._require_ready()
            now = core.clock.now()
            appt = await self._book.find(normalise_code(code) or "")
            refused = call_refusal(appt, self._site, now.date())
            if refused is not None:
                raise CabinRefusal(refused.code, refused.message)
            assert appt is not None
            c = core.new_consultation()
            c.appointment, c.visit, c.representative = appt, visit, appt.representative or None
            c.eligibility = assess(appt.birth_date, now.date(), c.representative)
            if not await core.fire("admit_called", reason="called"):
                raise CabinRefusal("not_clean", "the cabin is not available")
            await self._audit.append(now, c.session, "called", visit=visit)

        await core.act(step)

    def _require_ready(self) -> None:
        state = self._core.state
        if state is S.CLOSED:
            raise CabinRefusal("closed", "the stop is closed", state=state.value)
        if state in (S.AWAITING_CLEANING, S.CLEANING) or (state is S.READY and not self._core.admission_allowed()):
            raise CabinRefusal("not_clean", "the cabin awaits its cleaning", state=state.value)
        if state is not S.READY:
            raise CabinRefusal("not_ready", f"the cabin is {state.value}", state=state.value)

    async def reject_identity(self) -> None:
        """"This is not me": forget the appointment and ask for the code again."""

        async def step() -> None:
            self._core.require(S.CHECKING_IN)
            c = self._core.current()
            if c.appointment is not None:
                c.appointment = None
                await self._codes.not_me(self._core.clock.now())
            self._core.emit(ScreenChanged(c.session))

        await self._core.act(step)

    async def cancel_checkin(self) -> None:
        """The patient gives up before check-in is accepted."""

        async def step() -> None:
            self._core.require(S.CHECKING_IN)
            await self._core.fire("cancel", reason="cancelled")

        await self._core.act(step)

    async def confirm_identity(self) -> None:
        """The patient confirms the name shown: check-in is accepted and the mark is set."""
        core = self._core

        async def step() -> None:
            core.require(S.CHECKING_IN)
            c = core.current()
            if c.appointment is None:
                raise CabinRefusal("no_code", "enter your booking code first")
            c.eligibility = assess(c.appointment.birth_date, core.clock.now().date())
            if not await core.fire("admit"):
                c.eligibility = None
                raise CabinRefusal("not_clean", "the cabin is not available")
            await self._codes.confirmed(core.clock.now())

        await core.act(step)

    async def declare_representative(self, present: bool, name: str) -> None:
        """For a patient aged 14 to 17: a legal representative is present and named."""
        core = self._core

        async def step() -> None:
            core.require(S.ELIGIBILITY)
            c = core.current()
            assert c.appointment is not None
            if not present or not name.strip():
                raise CabinRefusal("representative_required", "a legal representative must be present and named")
            c.representative = name.strip()
            c.eligibility = assess(c.appointment.birth_date, core.clock.now().date(), c.representative)
            await self._audit.append(core.clock.now(), c.session, "representative_declared")
            core.emit(ScreenChanged(c.session))

        await core.act(step)

    async def give_consent(self, accepted: bool) -> None:
        """Consent to the teleconsultation and to sharing readings with the GP."""
        core = self._core

        async def step() -> None:
            core.require(S.ELIGIBILITY)
            c = core.current()
            verdict = c.eligibility.verdict if c.eligibility else None
            if not accepted:
                await core.fire("refuse", reason="consent_declined")
            elif verdict is Verdict.REFUSED_UNDER_14:
                raise CabinRefusal("under_14", "the cabin cannot receive patients under 14")
            elif verdict is not Verdict.ALLOWED:
                raise CabinRefusal("representative_required", "a legal representative must be present and named")
            else:
                await self._audit.append(core.clock.now(), c.session, "consent_given")
                await core.fire("consented")

        await core.act(step)

    async def leave(self) -> None:
        """The patient is done or leaves: the consultation ends and the cabin awaits cleaning."""

        async def step() -> None:
            self._core.require(*PATIENT_STATES)
            await self._core.fire("patient_left", reason="patient_left")

        await self._core.act(step)
