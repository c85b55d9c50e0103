"""The cabin: one consultation after another, and never a patient before cleaning.

`Cabin` is the model of a transitions AsyncMachine built from `session/machine.py`. Its
public coroutines are what the kiosk, the GP link and the badge reader call; each runs
under one lock so that the machine sees one event at a time. Every state entered is
persisted and audited under the session's pseudonymous id before anyone is told of it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from transitions.extensions.asyncio import AsyncMachine, EventData

from config.clock import Clock
from config.errors import StationError
from config.hours import Schedule
from config.schema import CabinConfig
from config.storage import StorageError
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager, Subscription
from hygiene.audit import AuditTrail
from hygiene.badges import Badge, BadgeError, BadgeRegistry, Role
from hygiene.cleaning import CleaningProof, CleaningRefused, CleaningRun
from hygiene.store import CabinRecord, CabinStore
from printer.document import MedicationLine, PatientIdentity, Prescriber, Prescription, new_prescription_number
from printer.errors import PrinterError
from printer.service import PrintOutcome, PrintService
from session.appointments import Appointment, AppointmentBook
from session.checkin import CheckInDesk, CheckInRefused
from session.control import GpIdentity, Prescribe
from session.eligibility import Eligibility, Verdict, assess
from session.machine import TRANSITIONS, timeout_for
from session.states import PATIENT_STATES, CabinState

log = logging.getLogger(__name__)

S = CabinState
_LIVE = (S.IN_CONSULTATION, S.RECONNECTING)
_TOUCHABLE = (S.CHECKING_IN, S.ELIGIBILITY, S.CLEANING)


class CabinRefusal(StationError):
    """An action that the cabin cannot take now; `code` is stable for screens and tests."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class CabinEvent:
    """Something the kiosk or the GP should hear about."""

    kind: str  # "state", "reading", "print", "notice"
    session: str
    data: dict[str, object]


@dataclass
class Consultation:
    """Everything about the current patient; memory only, gone when the session ends."""

    session: str
    appointment: Appointment | None = None
    refusal: dict[str, object] | None = None
    eligibility: Eligibility | None = None
    representative: str | None = None
    gp: GpIdentity | None = None
    measure_since: float = float("inf")
    deadline: float | None = None
    waiting_since: datetime | None = None
    requested: dict[str, str] | None = None
    readings: dict[str, dict[str, object]] = field(default_factory=dict)
    prints: dict[int, dict[str, object]] = field(default_factory=dict)


class Cabin:
    """The consultation state machine and what it drives."""

    state: CabinState

    def __init__(
        self, *, config: CabinConfig, clock: Clock, store: CabinStore, audit: AuditTrail,
        book: AppointmentBook, registry: BadgeRegistry, devices: DeviceManager,
        printer: PrintService, schedule: Schedule,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.audit = audit
        self.book = book
        self.registry = registry
        self.devices = devices
        self.printer = printer
        self.schedule = schedule
        self.desk = CheckInDesk(book, config.checkin, config.station.site)
        self.consultation: Consultation | None = None
        self.cleaning_run: CleaningRun | None = None
        self.record: CabinRecord | None = None
        self.fault: str | None = None
        self._listeners: list[Callable[[CabinEvent], None]] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._epoch = 0
        self._stopping = False
        self._subscription: Subscription | None = None
        self.machine = AsyncMachine(
            model=self, states=CabinState, transitions=TRANSITIONS, initial=S.OUT_OF_SERVICE,
            queued=True, auto_transitions=False, send_event=True, after_state_change="_entered",
        )

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Restore the persisted state (a set cleaning mark always wins) and start watching."""
        record = self.record = await self.store.start()
        restored = self._restored_state(record)
        self.machine.set_state(restored)
        now = self.clock.now()
        if record.cleaning_required and S(record.state) in PATIENT_STATES | {S.CLEANING}:
            await self.audit.append(now, record.mark_session or "-", "interrupted", state=record.state)
            if S(record.state) in PATIENT_STATES:
                self.record = await self.store.record_consultation_end(now)
        self.record = await self.store.record_state(now, restored.value, "")
        await self.audit.append(now, "-", "station_started", previous=record.state, state=restored.value)
        self._subscription = self.devices.subscribe()
        self._spawn(self._forward_readings(self._subscription), "readings")
        self._spawn(self._follow_opening_hours(), "opening-hours")
        self._emit("state", "", {"state": restored.value})

    async def stop(self) -> None:
        """Stop timers and tasks; idempotent and bounded."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._subscription is not None:
            self.devices.unsubscribe(self._subscription)
            self._subscription = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _restored_state(self, record: CabinRecord) -> CabinState:
        if record.out_of_service_reason:
            self.fault = record.out_of_service_reason
            return S.OUT_OF_SERVICE
        if record.cleaning_required:
            return S.AWAITING_CLEANING
        return S.READY if self.is_open() else S.CLOSED

    def subscribe(self, listener: Callable[[CabinEvent], None]) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ----------------------------------------------------------------- conditions and callbacks

    def is_open(self, event: EventData | None = None) -> bool:
        """Whether the site is within its opening hours now."""
        return self.schedule.is_open(self.clock.now())

    def cleaning_required(self, event: EventData | None = None) -> bool:
        """Whether the cleaning mark is set (or the store cannot say)."""
        return self.record is None or self.record.cleaning_required

    def admission_allowed(self, event: EventData | None = None) -> bool:
        """A patient may pass check-in only into a clean, healthy cabin."""
        return self.fault is None and not self.cleaning_required()

    async def write_cleaning_mark(self, event: EventData) -> None:
        """Before check-in is accepted: the mark goes to disk, the code is used up."""
        c = self._current()
        assert c.appointment is not None
        now = self.clock.now()
        self.record = await self.store.set_mark(now, c.session)
        await self.book.consume(c.appointment.code, now, c.session)
        await self.audit.append(now, c.session, "cleaning_mark_set")

    async def clear_cleaning_mark(self, event: EventData) -> None:
        """Clear the mark with the proof of a completed cleaning run."""
        proof: CleaningProof = event.kwargs["proof"]
        self.record = await self.store.clear_mark(proof)
        await self.audit.append(
            proof.finished_at, "-", "cleaning_cleared", started_by=proof.started_by,
            confirmed_by=proof.confirmed_by, started_at=proof.started_at.isoformat(), steps=list(proof.steps),
        )
        self.cleaning_run = None

    async def _entered(self, event: EventData) -> None:
        """After every transition: persist, audit, end or keep the session, arm the timer, tell."""
        source, dest = S[event.transition.source], self.state
        self._disarm()
        c = self.consultation
        session = c.session if c else ""
        now = self.clock.now()
        try:
            self.record = await self.store.record_state(now, dest.value, session)
            await self.audit.append(
                now, session or "-", "transition", source=source.value, dest=dest.value,
                trigger=event.event.name, reason=str(event.kwargs.get("reason", "")),
            )
            await self._after_entering(source, dest, now)
        except StorageError as exc:
            await self._storage_failed(exc)
            return
        self._arm()
        self._emit("state", session, {"state": dest.value, "source": source.value})

    async def _after_entering(self, source: CabinState, dest: CabinState, now: datetime) -> None:
        c = self.consultation
        if c is None:
            return
        if dest is S.IN_CONSULTATION and c.deadline is None:
            c.deadline = self.clock.monotonic() + self.config.timeouts.consultation_max_s
        if dest is S.WAITING_FOR_DOCTOR:
            c.waiting_since = now
        if source in PATIENT_STATES and dest not in PATIENT_STATES:
            self.record = await self.store.record_consultation_end(now)
            await self.printer.cancel_session(c.session)
            self._emit("notice", c.session, {"event": "consultation_ended", "state": dest.value})
            self.consultation = None
        elif dest in (S.READY, S.CLOSED, S.OUT_OF_SERVICE) and source not in PATIENT_STATES:
            self.consultation = None

    async def _storage_failed(self, exc: StorageError) -> None:
        if self.fault is None:
            log.error("state storage failed, the cabin takes no new patient: %s", exc)
            self.fault = f"state storage failed: {exc}"
        if self.state is not S.OUT_OF_SERVICE:
            await self.trigger("take_out_of_service", reason="storage")
        self._emit("state", "", {"state": S.OUT_OF_SERVICE.value, "fault": self.fault})

    # ----------------------------------------------------------------- timers and tasks

    def _disarm(self) -> None:
        self._epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        seconds = timeout_for(self.state, self.config.timeouts)
        c = self.consultation
        if c is not None and c.deadline is not None and self.state in _LIVE:
            seconds = min(seconds or c.deadline, c.deadline - self.clock.monotonic())
        if seconds is None:
            return
        epoch = self._epoch
        self._timer = self.clock.call_later(seconds, lambda: self._spawn(self._on_timeout(epoch), "timeout"))

    async def _on_timeout(self, epoch: int) -> None:
        async with self._lock:
            if epoch == self._epoch and not self._stopping:
                log.info("timeout in %s", self.state.value)
                await self.trigger("timeout", reason="timeout")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"cabin-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cabin task %s failed", task.get_name(), exc_info=task.exception())

    async def _follow_opening_hours(self) -> None:
        """Open at the start of each opening period and close at its end."""
        while True:
            now = self.clock.now()
            current = self.schedule.current(now)
            nxt = self.schedule.next_opening(now)
            boundary = current.end if current else (nxt.start if nxt else None)
            wait = (boundary - now).total_seconds() if boundary else 3600.0
            await self.clock.sleep(min(max(wait, 0.0) + 0.001, 3600.0))
            async with self._lock:
                if self.state is S.READY and not self.is_open():
                    await self.trigger("close")
                elif self.state is S.CLOSED and self.is_open():
                    await self.trigger("open")

    async def _forward_readings(self, subscription: Subscription) -> None:
        """Pass readings of the current consultation on; drop everything else."""
        async for reading in subscription:
            c = self.consultation
            if c is None or self.state not in _LIVE or reading.host_time < c.measure_since:
                log.debug("dropped a reading from %s outside a consultation", reading.device_id)
                continue
            data = reading.to_json()
            c.readings[str(data.get("kind"))] = data
            self._emit("reading", c.session, data)

    def _emit(self, kind: str, session: str, data: dict[str, object]) -> None:
        event = CabinEvent(kind, session, data)
        for listener in tuple(self._listeners):
            listener(event)

    # ----------------------------------------------------------------- helpers

    def _current(self) -> Consultation:
        if self.consultation is None:
            raise CabinRefusal("no_patient", "no consultation is in progress")
        return self.consultation

    def _require(self, *states: CabinState) -> None:
        if self.state is S.OUT_OF_SERVICE and S.OUT_OF_SERVICE not in states:
            raise CabinRefusal("out_of_service", f"the cabin is out of service: {self.fault or 'maintenance'}")
        if self.state not in states:
            raise CabinRefusal("wrong_state", f"not possible now: the cabin is {self.state.value}",
                               state=self.state.value)

    def _session_matches(self, session: str) -> Consultation:
        c = self.consultation
        if c is None or c.session != session:
            raise CabinRefusal("unknown_session", "this consultation is not in progress at this cabin")
        return c

    async def _run(self, step: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run one action under the lock; a storage failure takes the cabin out of service."""
        async with self._lock:
            if self._stopping:
                raise CabinRefusal("stopping", "the station is shutting down")
            try:
                return await step()
            except StorageError as exc:
                await self._storage_failed(exc)
                raise CabinRefusal("out_of_service", "the cabin is out of service") from exc

    # ----------------------------------------------------------------- the patient

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

    # ----------------------------------------------------------------- the GP

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
        if weight is None and "weight" in c.readings:
            weight = float(str(c.readings["weight"]["value"]))
        try:
            return Prescription(
                number=new_prescription_number(self.config.station.site, now.date()),
                prescriber=Prescriber(**c.gp.model_dump(exclude={"v"})),
                patient=PatientIdentity(
                    name=c.appointment.patient_name, sex=c.appointment.sex,
                    birth_date=c.appointment.birth_date, weight_kg=weight,
                ),
                site_name=self.config.place().name, issued_at=now,
                medications=tuple(MedicationLine(**m.model_dump(exclude={"v"})) for m in message.medications),
                examinations=message.examinations, referral=message.referral,
            )
        except PrinterError as exc:
            raise CabinRefusal("bad_prescription", str(exc)) from exc

    async def _print(self, c: Consultation, prescription: Prescription) -> None:
        try:
            outcome = await self.printer.print_prescription(c.session, prescription)
        except StationError as exc:
            outcome = PrintOutcome(job_id=0, printed=False, bytes_sent=0, error=str(exc))
        self._report_print(c, prescription.number, outcome)

    def _report_print(self, c: Consultation, number: str, outcome: PrintOutcome) -> None:
        data: dict[str, object] = {
            "job": outcome.job_id, "number": number, "printed": outcome.printed,
            "bytes": outcome.bytes_sent, "error": outcome.error, "warning": outcome.warning,
        }
        c.prints[outcome.job_id] = data
        self._emit("print", c.session, data)

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
        self._report_print(c, number, outcome)

    async def gp_end(self, session: str) -> None:
        """The GP ends the consultation: the patient takes the prescription and leaves."""

        async def step() -> None:
            self._session_matches(session)
            self._require(*_LIVE)
            await self.trigger("gp_ended", reason="gp_ended")

        await self._run(step)

    # ----------------------------------------------------------------- staff

    async def present_badge(self, raw: str) -> Role:
        """A staff badge on the reader: start or finish a cleaning, enter or leave maintenance."""

        async def step() -> Role:
            now = self.clock.now()
            try:
                badge = await self.registry.identify(raw)
            except BadgeError as exc:
                await self.audit.append(now, "-", "badge_refused", state=self.state.value)
                self._emit("notice", "", {"event": "badge_refused", "message": str(exc)})
                raise CabinRefusal("badge_refused", str(exc)) from exc
            if badge.role is Role.HYGIENE_REFERENT:
                await self._referent_badge(badge, now)
            else:
                await self._technician_badge(badge, now)
            return badge.role

        role: Role = await self._run(step)
        return role

    async def _referent_badge(self, badge: Badge, now: datetime) -> None:
        if self.state is S.AWAITING_CLEANING:
            self.cleaning_run = CleaningRun(self.config.cleaning, badge, now)
            await self.trigger("start_cleaning", reason=badge.hash)
        elif self.state is S.CLEANING and self.cleaning_run is not None:
            try:
                proof = self.cleaning_run.finish(badge, now)
            except CleaningRefused as exc:
                self._emit("notice", "", {"event": "cleaning_refused", "message": str(exc)})
                raise CabinRefusal("cleaning_incomplete", str(exc)) from exc
            await self.trigger("cleaning_done", proof=proof)
        else:
            raise CabinRefusal("no_cleaning_due", "no cleaning is due now", state=self.state.value)

    async def _technician_badge(self, badge: Badge, now: datetime) -> None:
        if self.state is S.MAINTENANCE:
            await self.trigger("settle", reason=badge.hash)
        elif self.state in (S.READY, S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE):
            await self.trigger("enter_maintenance", reason=badge.hash)
        else:
            raise CabinRefusal("busy", "the cabin is in use: maintenance must wait", state=self.state.value)

    async def confirm_cleaning_step(self, step_id: str) -> None:
        """The referent confirms the next step of the protocol on the screen."""

        async def step() -> None:
            self._require(S.CLEANING)
            assert self.cleaning_run is not None
            try:
                self.cleaning_run.confirm(step_id, self.clock.now())
            except CleaningRefused as exc:
                raise CabinRefusal("wrong_step", str(exc)) from exc
            await self.audit.append(self.clock.now(), "-", "cleaning_step", step=step_id)
            self._disarm()
            self._arm()
            self._emit("state", "", {"state": self.state.value})

        await self._run(step)

    async def set_out_of_service(self, reason: str) -> None:
        """From maintenance, a technician takes the cabin out of service with a reason shown to patients."""

        async def step() -> None:
            self._require(S.MAINTENANCE)
            self.record = await self.store.set_out_of_service(self.clock.now(), reason.strip() or "maintenance")
            self.fault = self.record.out_of_service_reason
            await self.trigger("take_out_of_service", reason="technician")

        await self._run(step)

    async def return_to_service(self) -> None:
        """From maintenance, clear a technician's out-of-service reason (never the cleaning mark)."""

        async def step() -> None:
            self._require(S.MAINTENANCE)
            self.record = await self.store.set_out_of_service(self.clock.now(), "")
            self.fault = None

        await self._run(step)
