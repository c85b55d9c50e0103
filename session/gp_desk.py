"""The GP's actions: join, measure, prescribe, reprint, end; and a lost link."""

from __future__ import annotations

import logging

from devices.instrument import DeviceUnavailable
from devices.measurements import Weight
from printer.document import (
    MedicationLine,
    PatientIdentity,
    Prescriber,
    Prescription,
    Sex,
    new_prescription_number,
)
from printer.errors import PrinterError
from printer.service import PrintOutcome
from protocol.control import Prescribe
from protocol.hub import GpIdentity
from protocol.states import CabinState
from runtime.errors import StationError
from session.core import LIVE, CabinCore, CabinRefusal, Consultation

S = CabinState
log = logging.getLogger(__name__)


class GpDesk(CabinCore):
    """What the GP's control channel lets the GP do."""

    async def gp_join(self, session: str, gp: GpIdentity) -> None:
        """A GP takes the waiting patient, or comes back within the reconnect grace."""

        async def step() -> None:
            c = self._session_matches(session)
            if self.state is S.RECONNECTING and c.gp is not None and c.gp.rpps == gp.rpps:
                await self.trigger("link_restored")
                return
            self._require(S.WAITING_FOR_DOCTOR)
            c.gp, c.measure_since = gp, self.clock.monotonic()
            await self.trigger("gp_joined")

        await self._run(step)

    async def gp_lost(self, session: str) -> None:
        """The GP's link dropped: wait for it within the grace period."""

        async def step() -> None:
            c = self.consultation
            if c is not None and c.session == session and self.state is S.IN_CONSULTATION:
                await self.trigger("link_lost", reason="link_lost")

        await self._run(step)

    async def gp_request(self, session: str, kind: str) -> str:
        """Ask for a measurement; returns the device that will take it."""

        async def step() -> str:
            c = self._session_matches(session)
            self._require(S.IN_CONSULTATION)
            try:
                device = await self.devices.request(kind)
            except DeviceUnavailable as exc:
                self._emit("notice", c.session, {"event": "instrument_unavailable", "kind": kind})
                raise CabinRefusal("instrument_unavailable", str(exc), kind=kind) from exc
            c.requested = {"kind": kind, "device": device}
            self._emit("notice", c.session, {"event": "measurement_requested", "kind": kind, "device": device})
            return device

        device: str = await self._run(step)
        return device

    async def gp_prescribe(self, session: str, message: Prescribe) -> str:
        """Print a prescription in the cabin; returns its number (the outcome follows as an event)."""

        async def step() -> str:
            c = self._session_matches(session)
            self._require(S.IN_CONSULTATION)
            prescription = self._prescription(c, message)
            self._spawn(self._print(c, prescription), "print")
            return prescription.number

        number: str = await self._run(step)
        return number

    def _prescription(self, c: Consultation, message: Prescribe) -> Prescription:
        assert c.appointment is not None and c.gp is not None
        now = self.clock.now()
        weight = message.weight_kg
        scale = c.readings.get("weight")
        if weight is None and isinstance(scale, Weight):
            weight = scale.kg
        try:
            return Prescription(
                number=new_prescription_number(self.config.station.site, now.date()),
                prescriber=Prescriber(**c.gp.model_dump()),
                patient=PatientIdentity(
                    name=c.appointment.patient_name, sex=Sex(c.appointment.sex),
                    birth_date=c.appointment.birth_date, weight_kg=weight,
                ),
                site_name=self.config.place().name, issued_at=now,
                medications=tuple(MedicationLine(**m.model_dump()) for m in message.medications),
                examinations=message.examinations, referral=message.referral,
            )
        except PrinterError as exc:
            raise CabinRefusal("bad_prescription", str(exc)) from exc

    async def _print(self, c: Consultation, prescription: Prescription) -> None:
        try:
            outcome = await self.printer.print_prescription(c.session, prescription)
        except StationError as exc:
            outcome = PrintOutcome(job_id=0, printed=False, bytes_sent=0, error=str(exc))
        await self._report_print(c, prescription.number, outcome)

    async def _report_print(self, c: Consultation, number: str, outcome: PrintOutcome) -> None:
        data: dict[str, object] = {
            "job": outcome.job_id, "number": number, "printed": outcome.printed,
            "bytes": outcome.bytes_sent, "error": outcome.error, "warning": outcome.warning, "reason": outcome.reason,
        }
        c.prints[outcome.job_id] = data
        self._emit("print", c.session, data)
        if outcome.printed:  # on the audit trail, after the job's own record: which session got paper
            try:
                await self.audit.append(self.clock.now(), c.session, "prescription_printed", job=outcome.job_id)
            except StationError as exc:
                log.error("prescription %s printed, but not audited: %s", number, exc)

    async def gp_reprint(self, session: str, job: int) -> None:
        """Print a failed job again within the same consultation."""

        async def step() -> Consultation:
            c = self._session_matches(session)
            self._require(S.IN_CONSULTATION, S.WRAPPING_UP)
            if job not in c.prints:
                raise CabinRefusal("unknown_job", "this print job is not part of this consultation")
            return c

        c: Consultation = await self._run(step)
        number = str(c.prints[job]["number"])
        try:
            outcome = await self.printer.reprint(job, session)
        except StationError as exc:
            raise CabinRefusal("reprint_refused", str(exc)) from exc
        await self._report_print(c, number, outcome)

    async def gp_end(self, session: str) -> None:
        """The GP ends the consultation: the patient takes the prescription and leaves."""

        async def step() -> None:
            self._session_matches(session)
            self._require(*LIVE)
            await self.trigger("gp_ended", reason="gp_ended")

        await self._run(step)
