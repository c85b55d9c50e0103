"""The patient's actions: check-in, identity, eligibility and consent, leaving."""

from __future__ import annotations

import secrets

from protocol.states import CabinState
from session.checkin import CheckInRefused
from session.core import CabinCore, CabinRefusal, Consultation
from session.eligibility import Verdict, assess
from session.machine import PATIENT_STATES

S = CabinState
_TOUCHABLE = (S.CHECKING_IN, S.ELIGIBILITY, S.CLEANING)


class PatientDesk(CabinCore):
    """What the touchscreen lets a patient do."""

    async def touch(self) -> None:
        """The person at the screen did something: restart the inactivity timer."""
        async with self._lock:
            if self.state in _TOUCHABLE:
                self._disarm()
                self._arm()

    async def begin_checkin(self) -> None:
        """A patient starts checking in."""
        await self._run(self._begin)

    async def _begin(self) -> None:
        if self.state is S.CHECKING_IN:
            return
        self._require(S.READY)
        if not self.admission_allowed():
            raise CabinRefusal("not_clean", "the cabin is not available")
        self.consultation = Consultation(session=secrets.token_hex(8))
        await self.trigger("begin")

    async def submit_code(self, code: str) -> dict[str, object]:
        """Check a booking code; on success, the name and birth year to confirm."""

        async def step() -> dict[str, object]:
            if self.state is S.READY:
                await self._begin()
            self._require(S.CHECKING_IN)
            self._disarm()
            self._arm()
            c = self._current()
            try:
                appt = await self.desk.verify(code, self.clock.now(), self.clock.monotonic())
            except CheckInRefused as exc:
                c.refusal = {"reason": exc.reason.value, "message": str(exc), "retry_after_s": exc.retry_after_s}
                await self.audit.append(self.clock.now(), c.session, "code_refused", reason=exc.reason.value)
                self._emit("state", c.session, {"state": self.state.value})
                raise CabinRefusal(exc.reason.value, str(exc), retry_after_s=round(exc.retry_after_s)) from exc
            c.appointment, c.refusal = appt, None
            self._emit("state", c.session, {"state": self.state.value})
            return {"name": appt.patient_name, "birth_year": appt.birth_date.year}

        result: dict[str, object] = await self._run(step)
        return result

    async def reject_identity(self) -> None:
        """"This is not me": forget the appointment and ask for the code again."""

        async def step() -> None:
            self._require(S.CHECKING_IN)
            self._current().appointment = None
            self._emit("state", self._current().session, {"state": self.state.value})

        await self._run(step)

    async def cancel_checkin(self) -> None:
        """The patient gives up before check-in is accepted."""

        async def step() -> None:
            self._require(S.CHECKING_IN)
            await self.trigger("cancel", reason="cancelled")

        await self._run(step)

    async def confirm_identity(self) -> None:
        """The patient confirms the name shown: check-in is accepted and the mark is set."""

        async def step() -> None:
            self._require(S.CHECKING_IN)
            c = self._current()
            if c.appointment is None:
                raise CabinRefusal("no_code", "enter your booking code first")
            c.eligibility = assess(c.appointment.birth_date, self.clock.now().date())
            if not await self.trigger("admit"):
                c.eligibility = None
                raise CabinRefusal("not_clean", "the cabin is not available")

        await self._run(step)

    async def declare_representative(self, present: bool, name: str) -> None:
        """For a patient aged 14 to 17: a legal representative is present and named."""

        async def step() -> None:
            self._require(S.ELIGIBILITY)
            c = self._current()
            assert c.appointment is not None
            if not present or not name.strip():
                raise CabinRefusal("representative_required", "a legal representative must be present and named")
            c.representative = name.strip()
            c.eligibility = assess(c.appointment.birth_date, self.clock.now().date(), c.representative)
            await self.audit.append(self.clock.now(), c.session, "representative_declared")
            self._emit("state", c.session, {"state": self.state.value})

        await self._run(step)

    async def give_consent(self, accepted: bool) -> None:
        """Consent to the teleconsultation and to sharing readings with the GP."""

        async def step() -> None:
            self._require(S.ELIGIBILITY)
            c = self._current()
            verdict = c.eligibility.verdict if c.eligibility else None
            if not accepted:
                await self.trigger("refuse", reason="consent_declined")
            elif verdict is Verdict.REFUSED_UNDER_14:
                raise CabinRefusal("under_14", "the cabin cannot receive patients under 14")
            elif verdict is not Verdict.ALLOWED:
                raise CabinRefusal("representative_required", "a legal representative must be present and named")
            else:
                await self.audit.append(self.clock.now(), c.session, "consent_given")
                await self.trigger("consented")

        await self._run(step)

    async def leave(self) -> None:
        """The patient is done or leaves: the consultation ends and the cabin awaits cleaning."""

        async def step() -> None:
            self._require(*PATIENT_STATES)
            await self.trigger("patient_left", reason="patient_left")

        await self._run(step)
