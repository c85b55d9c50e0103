"""The GP's actions: join, measure, prescribe, reprint, end; and a lost link."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Weight
from hygiene.audit import AuditTrail
from printer.document import (
    MedicationLine,
    PatientIdentity,
    Prescriber,
    Prescription,
    Sex,
    new_prescription_number,
)
from printer.errors import PrinterError
from printer.service import PrintOutcome, PrintService
from protocol.control import Prescribe
from protocol.hub import GpIdentity
from protocol.states import CabinState
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.consultation import Consultation, Issued
from session.core import LIVE, CabinCore, CabinRefusal
from session.events import InstrumentUnavailable, MeasurementRequested, PrintReported

S = CabinState
log = logging.getLogger(__name__)


class GpDesk:
    """What the GP's control channel lets the GP do; prints run in its own tasks."""

    def __init__(self, core: CabinCore, *, devices: DeviceManager, printer: PrintService, audit: AuditTrail,
                 site_code: str, site_name: str, place_of: Callable[[date], str | None] | None = None) -> None:
        """`place_of`: on board, the place of consultation of a day (the stop) for the prescriptions; on board
        too, the patient leaves with the GP's end once every prescription has printed (docs/design.md, "On
        board"): there is no kiosk for them to say so."""
        self._core = core
        self._place_of = place_of
        self._devices = devices
        self._printer = printer
        self._audit = audit
        self._site_code = site_code
        self._site_name = site_name
        self._prints = TaskSet("gp-desk", log)

    async def start(self) -> None:
        """Nothing to start: prints begin when the GP prescribes."""

    async def stop(self) -> None:
        """Stop any print in progress; idempotent and bounded."""
        await self._prints.cancel_all()

    async def join(self, session: str, gp: GpIdentity) -> None:
        """A GP takes the waiting patient, or comes back within the reconnect grace."""
        core = self._core

        async def step() -> None:
            c = core.matching(session)
            if core.state is S.RECONNECTING and c.gp is not None and c.gp.rpps == gp.rpps:
                await core.fire("link_restored")
                return
            if core.state is S.IN_CONSULTATION and c.gp is not None and c.gp.rpps == gp.rpps:
                return  # her console asks again on a link that never dropped (her hub connection did)
            core.require(S.WAITING_FOR_DOCTOR)
            c.gp, c.measure_since = gp, core.clock.monotonic()
            await core.fire("gp_joined")

        await core.act(step)

    async def lost(self, session: str) -> None:
        """The GP's link dropped: wait for it within the grace period."""
        core = self._core

        async def step() -> None:
            c = core.consultation
            if c is not None and c.session == session and core.state is S.IN_CONSULTATION:
                await core.fire("link_lost", reason="link_lost")

        await core.act(step)

    async def request(self, session: str, kind: str) -> str:
        """Ask for a measurement; returns the device that will take it.

        The cabin's lock is held to check the consultation and to note the request, never while
        the device is asked: an instrument slow to answer must not hold up the patient's screen.
        """
        core = self._core

        async def check() -> None:
            core.matching(session)
            core.require(S.IN_CONSULTATION)

        await core.act(check)
        try:
            device = await self._devices.request(kind)
        except DeviceUnavailable as exc:
            core.emit(InstrumentUnavailable(session, kind))
            raise CabinRefusal("instrument_unavailable", str(exc), kind=kind) from exc

        async def note() -> None:
            c = core.matching(session)
            c.requested = MeasurementRequested(session, kind, device)
            core.emit(c.requested)

        await core.act(note)
        return device

    async def prescribe(self, session: str, message: Prescribe) -> str:
        """Print a prescription in the cabin once; returns its number (the outcome follows as an event).

        The console's id is the key: the same id again is the same prescription, whose print job
        reports its outcome without printing twice; a new id after one already sent needs the
        GP's confirmation (docs/design.md, "The consultation").
        """
        core = self._core

        async def step() -> tuple[Consultation, Prescription]:
            c = core.matching(session)
            core.require(S.IN_CONSULTATION)
            issued = c.prescriptions.get(message.id)
            if issued is not None:
                if not issued.request.same_content(message):
                    raise CabinRefusal("prescription_id_reused", "this prescription id was already used for "
                                       "another prescription; send it with a new id")
                return c, issued.prescription
            if c.prescriptions and not message.confirm_additional:
                last = next(reversed(c.prescriptions.values())).prescription.number
                raise CabinRefusal("additional_prescription", f"prescription {last} was already sent for this "
                                   "patient; another one needs the GP's confirmation", number=last)
            prescription = self._prescription(c, message)
            c.prescriptions[message.id] = Issued(message, prescription)
            return c, prescription

        c, prescription = await core.act(step)
        self._prints.spawn(self._print(c, prescription), "print")
        return prescription.number

    def _prescription(self, c: Consultation, message: Prescribe) -> Prescription:
        assert c.appointment is not None and c.gp is not None
        now = self._core.clock.now()
        weight = message.weight_kg
        scale = c.readings.get("weight")
        if weight is None and scale is not None and isinstance(scale.reading, Weight):
            weight = scale.reading.kg
        try:
            return Prescription(
                number=new_prescription_number(self._site_code, now.date()),
                prescriber=Prescriber(**c.gp.model_dump()),
                patient=PatientIdentity(
                    name=c.appointment.patient_name, sex=Sex(c.appointment.sex),
                    birth_date=c.appointment.birth_date, weight_kg=weight,
                ),
                site_name=self._site_name, issued_at=now,
                stop=self._place_of(now.date()) if self._place_of is not None else None,
                medications=tuple(MedicationLine(**m.model_dump()) for m in message.medications),
                examinations=message.examinations, referral=message.referral,
            )
        except PrinterError as exc:
            raise CabinRefusal("bad_prescription", str(exc)) from exc

    async def _print(self, c: Consultation, prescription: Prescription) -> None:
        try:
            outcome = await self._printer.print_prescription(c.session, prescription)
        except StationError as exc:
            outcome = PrintOutcome(job_id=0, printed=False, bytes_sent=0, error=str(exc))
        await self._report(c, prescription.number, outcome)

    async def _report(self, c: Consultation, number: str, outcome: PrintOutcome) -> None:
        report = PrintReported(c.session, number, outcome)
        previous = c.prints.get(outcome.job_id)
        c.prints[outcome.job_id] = report
        self._core.emit(report)
        again = previous is not None and previous.outcome.printed  # a retry told of a job already audited
        if outcome.printed and not again:  # on the audit trail, after the job's own record: which session got paper
            try:
                await self._audit.append(self._core.clock.now(), c.session, "prescription_printed", job=outcome.job_id)
            except StationError as exc:
                log.error("prescription %s printed, but not audited: %s", number, exc)
        if outcome.printed:
            await self._core.act(lambda: self._leave_when_printed(c.session))

    async def reprint(self, session: str, job: int) -> None:
        """Print a failed job again within the same consultation."""
        core = self._core

        async def step() -> Consultation:
            c = core.matching(session)
            core.require(S.IN_CONSULTATION, S.WRAPPING_UP)
            if job not in c.prints:
                raise CabinRefusal("unknown_job", "this print job is not part of this consultation")
            return c

        c = await core.act(step)
        try:
            outcome = await self._printer.reprint(job, session)
        except StationError as exc:
            raise CabinRefusal("reprint_refused", str(exc)) from exc
        await self._report(c, c.prints[job].number, outcome)

    async def end(self, session: str) -> None:
        """The GP ends the consultation: the patient takes the prescription and leaves."""
        core = self._core

        async def step() -> None:
            core.matching(session)
            core.require(*LIVE)
            await core.fire("gp_ended", reason="gp_ended")
            await self._leave_when_printed(session)

        await core.act(step)

    async def _leave_when_printed(self, session: str) -> None:
        """On board, after the GP's end, the patient leaves once every prescription has printed (inside `act`):
        a failed print keeps them in wrapping-up, for the GP to print it again, until its timeout."""
        core, c = self._core, self._core.consultation
        if self._place_of is None or c is None or c.session != session or core.state is not S.WRAPPING_UP:
            return
        printed = {r.number for r in c.prints.values() if r.outcome.printed}
        if all(issued.prescription.number in printed for issued in c.prescriptions.values()):
            await core.fire("patient_left", reason="printed_on_board")
