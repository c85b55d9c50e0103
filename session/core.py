"""The core of the cabin: the state machine, its persistence, its timers, the current consultation.

`CabinCore` is the model of a transitions AsyncMachine built from `session/machine.py`. The
actions people take live in three desks (`patient_desk`, `gp_desk`, `staff_desk`), separate
objects that act through this core's public methods: every action runs under one lock
(`act`), so that the machine sees one event at a time. Every state entered is persisted and
audited under the session's pseudonymous id before anyone is told of it; the screens read
an immutable `snapshot()`. See docs/design.md, "The consultation".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from transitions.extensions.asyncio import AsyncEventData as EventData
from transitions.extensions.asyncio import AsyncMachine

from config.hours import Schedule
from config.schema import Timeouts
from devices.manager import DeviceManager
from devices.measurements import MeasurementKind, Pleth, Reading, RejectedReading
from devices.subscription import Subscription
from hygiene.audit import AuditTrail
from hygiene.cleaning import CleaningProof, CleaningRun
from hygiene.store import CabinRecord, CabinStore
from printer.service import PrintService
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.listeners import Listeners
from runtime.storage import StorageError
from runtime.tasks import TaskSet
from session import bmi
from session.appointments import AppointmentBook
from session.consultation import CabinSnapshot, CleaningSnapshot, Consultation
from session.events import CabinEvent, ConsultationEnded, Listener, ReadingTaken, ScreenChanged, StateChanged
from session.machine import PATIENT_STATES, TRANSITIONS, timeout_for

log = logging.getLogger(__name__)

S = CabinState
T = TypeVar("T")
LIVE = (S.IN_CONSULTATION, S.RECONNECTING)
# While the state storage fails, it is tried again this often (clock seconds): one small write.
STORAGE_RETRY_S = 10.0


class CabinRefusal(StationError):
    """An action that the cabin cannot take now; `code` is stable for screens and tests."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class CabinCore:
    """The consultation state machine and what it keeps: the cleaning mark, the consultation, the timers."""

    state: CabinState
    trigger: Callable[..., Awaitable[bool]]  # bound by the machine: fire a trigger by name

    def __init__(
        self, *, timeouts: Timeouts, clock: Clock, store: CabinStore, audit: AuditTrail, book: AppointmentBook,
        devices: DeviceManager, printer: PrintService, schedule: Schedule,
    ) -> None:
        self.clock = clock
        self._timeouts = timeouts
        self._store = store
        self._audit = audit
        self._book = book
        self._devices = devices
        self._printer = printer
        self._schedule = schedule
        self._consultation: Consultation | None = None
        self._cleaning: CleaningRun | None = None
        self._record: CabinRecord | None = None
        self._fault: str | None = None
        self._storage_down = False
        self._unclosed: list[str] = []  # sessions a storage failure ended before the disk heard of it
        self._listeners: Listeners[[CabinEvent]] = Listeners(log, "a cabin listener")
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("cabin", log)
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
        record = self._record = await self._store.start()
        restored = self._restored_state(record)
        self.machine.set_state(restored)
        now = self.clock.now()
        if record.cleaning_required and S(record.state) in PATIENT_STATES | {S.CLEANING}:
            await self._audit.append(now, record.mark_session or "-", "interrupted", state=record.state)
            if S(record.state) in PATIENT_STATES:
                self._record = await self._store.record_consultation_end(now)
        self._record = await self._store.record_state(now, restored.value, "")
        await self._audit.append(now, "-", "station_started", previous=record.state, state=restored.value)
        self._subscription = self._devices.subscribe()
        self._tasks.spawn(self._forward_readings(self._subscription), "readings")
        self._tasks.spawn(self._follow_opening_hours(), "opening-hours")
        self.emit(StateChanged("", restored, None))

    async def stop(self) -> None:
        """Stop timers and tasks; idempotent and bounded."""
        self._stopping = True
        self._disarm()
        if self._subscription is not None:
            self._devices.unsubscribe(self._subscription)
            self._subscription = None
        await self._tasks.cancel_all()

    def _restored_state(self, record: CabinRecord) -> CabinState:
        if record.out_of_service_reason:
            self._fault = record.out_of_service_reason
            return S.OUT_OF_SERVICE
        if record.cleaning_required:
            return S.AWAITING_CLEANING
        return S.READY if self.is_open() else S.CLOSED

    # ----------------------------------------------------------------- what others read

    @property
    def consultation(self) -> Consultation | None:
        """The current patient's consultation, if any (the desks change it only inside `act`)."""
        return self._consultation

    @property
    def cleaning(self) -> CleaningRun | None:
        """The cleaning run in progress, if any."""
        return self._cleaning

    @property
    def fault(self) -> str | None:
        """Why the cabin is out of service (a technician's reason or a storage failure), if it is."""
        return self._fault

    def out_of_service_by_technician(self) -> bool:
        """Whether the cabin is out of service for a technician's reason alone, not (also) a storage failure."""
        return (self.state is S.OUT_OF_SERVICE and not self._storage_down and self._record is not None
                and bool(self._record.out_of_service_reason))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        return self._listeners.add(listener)

    def snapshot(self) -> CabinSnapshot:
        """The cabin as it is now, frozen: what the screens and the hub are drawn from."""
        now = self.clock.now()
        c, run = self._consultation, self._cleaning
        return CabinSnapshot(
            state=self.state, now=now, monotonic=self.clock.monotonic(), open=self.is_open(),
            current_period=self._schedule.current(now), next_opening=self._schedule.next_opening(now),
            cleaning_required=self.cleaning_required(), fault=self._fault,
            consultation=c.snapshot() if c is not None else None,
            cleaning=CleaningSnapshot.of(run, now) if run is not None and self.state is S.CLEANING else None,
        )

    def session_of(self, reading: Reading) -> str | None:
        """The consultation `reading` belongs to, or None: taken during it, after the GP joined."""
        c = self._consultation
        if c is None or self.state not in LIVE or reading.host_time < c.measure_since:
            return None
        return c.session

    # ----------------------------------------------------------------- conditions and callbacks

    def is_open(self, event: EventData | None = None) -> bool:
        """Whether the site is within its opening hours now."""
        return self._schedule.is_open(self.clock.now())

    def cleaning_required(self, event: EventData | None = None) -> bool:
        """Whether the cleaning mark is set (or the store cannot say)."""
        return self._record is None or self._record.cleaning_required

    def closing_due(self) -> bool:
        """On board: whether the mark calls for the full closing protocol."""
        return self._record is not None and self._record.closing_due

    def admission_allowed(self, event: EventData | None = None) -> bool:
        """A patient may pass check-in only into a clean, healthy cabin."""
        return self._fault is None and not self.cleaning_required()

    async def write_cleaning_mark(self, event: EventData) -> None:
        """Before check-in is accepted: the mark goes to disk, the code is used up."""
        c = self.current()
        assert c.appointment is not None
        now = self.clock.now()
        self._record = await self._store.set_mark(now, c.session)
        await self._book.consume(c.appointment.code, now, c.session)
        await self._audit.append(now, c.session, "cleaning_mark_set")

    async def clear_cleaning_mark(self, event: EventData) -> None:
        """Clear the mark with the proof of a completed cleaning run."""
        proof: CleaningProof = event.kwargs["proof"]
        # The proof goes to the audit trail first: a crash in between leaves the cabin marked (it is
        # cleaned again), never cleared without its proof on record.
        await self._audit.append(
            proof.finished_at, "-", "cleaning_cleared", started_by=proof.started_by,
            confirmed_by=proof.confirmed_by, started_at=proof.started_at.isoformat(), steps=list(proof.steps),
        )
        self._record = await self._store.clear_mark(proof)
        self._cleaning = None

    async def _entered(self, event: EventData) -> None:
        """After every transition: persist, audit, end or keep the session, arm the timer, tell."""
        source, dest = CabinState[event.transition.source], self.state
        self._disarm()
        c = self._consultation
        session = c.session if c else ""
        now = self.clock.now()
        try:
            self._record = await self._store.record_state(now, dest.value, session)
            await self._audit.append(
                now, session or "-", "transition", source=source.value, dest=dest.value,
                trigger=event.event.name, reason=str(event.kwargs.get("reason", "")),
            )
            await self._after_entering(source, dest, now)
        except StorageError as exc:
            await self._storage_failed(exc)
            return
        self._arm()
        self.emit(StateChanged(session, dest, source))

    async def _after_entering(self, source: CabinState, dest: CabinState, now: datetime) -> None:
        c = self._consultation
        if c is None:
            return
        if dest is S.IN_CONSULTATION and c.deadline is None:
            c.deadline = self.clock.monotonic() + self._timeouts.consultation_max_s
        if dest is S.WAITING_FOR_DOCTOR:
            c.waiting_since = now
        if source in PATIENT_STATES and dest not in PATIENT_STATES:
            self._record = await self._store.record_consultation_end(now)
            await self._printer.cancel_session(c.session)
            self._consultation = None
            self.emit(ConsultationEnded(c.session, dest))
        elif dest in (S.READY, S.CLOSED, S.OUT_OF_SERVICE) and source not in PATIENT_STATES:
            self._consultation = None

    # ----------------------------------------------------------------- what the desks do through the core

    async def act(self, step: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run one action under the lock; a storage failure takes the cabin out of service."""
        async with self._lock:
            if self._stopping:
                raise CabinRefusal("stopping", "the station is shutting down")
            try:
                return await step()
            except StorageError as exc:
                await self._storage_failed(exc)
                raise CabinRefusal("out_of_service", "the cabin is out of service") from exc

    async def fire(self, trigger: str, **kwargs: object) -> bool:
        """Fire a transition by name (inside `act`); False when its conditions refuse it."""
        return await self.trigger(trigger, **kwargs)

    def require(self, *states: CabinState) -> None:
        """CabinRefusal unless the cabin is in one of `states`."""
        if self.state is S.OUT_OF_SERVICE and S.OUT_OF_SERVICE not in states:
            raise CabinRefusal("out_of_service", f"the cabin is out of service: {self._fault or 'maintenance'}")
        if self.state not in states:
            raise CabinRefusal("wrong_state", f"not possible now: the cabin is {self.state.value}",
                               state=self.state.value)

    def current(self) -> Consultation:
        """The consultation in progress, or CabinRefusal."""
        if self._consultation is None:
            raise CabinRefusal("no_patient", "no consultation is in progress")
        return self._consultation

    def matching(self, session: str) -> Consultation:
        """The consultation in progress if it is `session`, or CabinRefusal."""
        c = self._consultation
        if c is None or c.session != session:
            raise CabinRefusal("unknown_session", "this consultation is not in progress at this cabin")
        return c

    def new_consultation(self) -> Consultation:
        """A new patient starts checking in (inside `act`, from ready): a fresh pseudonymous session."""
        self._consultation = Consultation(session=secrets.token_hex(8))
        return self._consultation

    def restart_timer(self) -> None:
        """Someone acted: the waiting state's timer starts over."""
        self._disarm()
        self._arm()

    async def begin_cleaning(self, run: CleaningRun, reason: str) -> None:
        """A referent starts the cleaning protocol (inside `act`)."""
        self._cleaning = run
        await self.fire("start_cleaning", reason=reason)

    async def finish_cleaning(self, proof: CleaningProof) -> None:
        """The protocol is complete: the mark is cleared with its proof (inside `act`)."""
        await self.fire("cleaning_done", proof=proof)

    async def close_stop(self) -> None:
        """On board, the stop closed (inside `act`): the full cleaning is due before the cabin opens again.

        From ready (or closed) at once; a consultation going on ends as usual into the closing
        cleaning; a light cleaning under way is abandoned for the full one (docs/design.md, "On board").
        """
        now, c = self.clock.now(), self._consultation
        session = c.session if c is not None else "-"
        newly = not self.cleaning_required()
        self._record = await self._store.set_closing_mark(now, session)
        await self._audit.append(now, session, "cleaning_mark_set" if newly else "closing_cleaning_due", closing=True)
        if self.state in (S.READY, S.CLOSED):
            await self.fire("stop_closed", reason="stop_closed")
        elif self.state is S.CLEANING:
            self._cleaning = None
            await self.fire("abandon_cleaning", reason="stop_closed")
        else:
            self.emit(ScreenChanged(session if c is not None else ""))

    async def set_out_of_service(self, reason: str) -> None:
        """From maintenance, out of service with a reason shown to patients (inside `act`)."""
        self._record = await self._store.set_out_of_service(self.clock.now(), reason)
        self._fault = self._record.out_of_service_reason
        await self.fire("take_out_of_service", reason="technician")

    async def return_to_service(self) -> None:
        """From maintenance, clear a technician's reason (never the cleaning mark) (inside `act`)."""
        self._record = await self._store.set_out_of_service(self.clock.now(), "")
        self._fault = None

    def emit(self, event: CabinEvent) -> None:
        """Tell every listener; a failing listener is logged, never fatal to the cabin."""
        self._listeners.tell(event)

    # ----------------------------------------------------------------- storage failures

    async def _storage_failed(self, exc: StorageError) -> None:
        """No new patient while the disk cannot keep the mark; forget the current one; retry in the background.

        The mark on disk was written at check-in, before any patient state: it stays as it is.
        Nothing of the patient stays on the screens: the consultation leaves memory now, and
        its end is recorded once the storage works again.
        """
        if not self._storage_down:
            log.error("state storage failed, the cabin takes no new patient: %s", exc)
            self._storage_down = True
            self._fault = f"state storage failed: {exc}"
            self._tasks.spawn(self._recover_storage(), "storage-recovery")
        if self._consultation is not None:
            self._unclosed.append(self._consultation.session)
            self._consultation = None
        if self.state is not S.OUT_OF_SERVICE:
            await self.trigger("take_out_of_service", reason="storage")
        self.emit(ScreenChanged(""))

    async def _recover_storage(self) -> None:
        """Try the storage every STORAGE_RETRY_S; once it reads and writes, settle as the disk says."""
        while True:
            await self.clock.sleep(STORAGE_RETRY_S)
            async with self._lock:
                if self._stopping:
                    return
                try:
                    await self._storage_works_again()
                except StorageError as exc:
                    log.debug("state storage still failing: %s", exc)
                    continue
            return

    async def _storage_works_again(self) -> None:
        now = self.clock.now()
        record = await self._store.record_state(now, S.OUT_OF_SERVICE.value, "")
        for session in self._unclosed:
            await self._printer.cancel_session(session)
            await self._audit.append(now, session, "interrupted", state="storage_failed")
            record = await self._store.record_consultation_end(now)
        self._unclosed.clear()
        await self._audit.append(now, "-", "storage_recovered")
        self._record, self._storage_down = record, False
        self._fault = record.out_of_service_reason or None
        mark = "set" if record.cleaning_required else "clear"
        log.warning("state storage works again; the cleaning mark is %s", mark)
        if self._fault is None:
            await self.trigger("settle", reason="storage_recovered")
        else:
            self.emit(ScreenChanged(""))

    # ----------------------------------------------------------------- timers and background work

    async def time_out(self, epoch: int | None = None) -> None:
        """The current state's time is up (the timer calls this; `epoch` guards against a stale timer)."""
        async with self._lock:
            if (epoch is None or epoch == self._epoch) and not self._stopping:
                log.info("timeout in %s", self.state.value)
                await self.trigger("timeout", reason="timeout")

    def _disarm(self) -> None:
        self._epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        seconds = timeout_for(self.state, self._timeouts)
        c = self._consultation
        if c is not None and c.deadline is not None and self.state in LIVE:
            seconds = min(seconds or c.deadline, c.deadline - self.clock.monotonic())
        if seconds is None:
            return
        epoch = self._epoch
        self._timer = self.clock.call_later(seconds, lambda: self._tasks.spawn(self.time_out(epoch), "timeout"))

    async def _follow_opening_hours(self) -> None:
        """Open at the start of each opening period and close at its end."""
        while True:
            now = self.clock.now()
            current = self._schedule.current(now)
            nxt = self._schedule.next_opening(now)
            boundary = current.end if current else (nxt.start if nxt else None)
            wait = (boundary - now).total_seconds() if boundary else 3600.0
            await self.clock.sleep(min(max(wait, 0.0) + 0.001, 3600.0))
            async with self._lock:
                if self.state is S.READY and not self.is_open():
                    await self.trigger("close")
                elif self.state is S.CLOSED and self.is_open():
                    await self.trigger("open")

    async def _forward_readings(self, subscription: Subscription) -> None:
        """Pass final readings of the current consultation on, with their freshness; drop everything else.

        The waveform is not the cabin's business: the GP link takes it from the device manager itself.
        """
        async for reading in subscription:
            if isinstance(reading, Pleth):
                continue
            session = self.session_of(reading)
            c = self._consultation
            if session is None or c is None:
                log.debug("dropped a reading from %s outside a consultation", reading.device_id)
                continue
            reading = bmi.with_measured_height(reading, c.readings)
            taken = ReadingTaken(session, reading, self._devices.freshness_of(reading.device_id))
            c.readings["rejected" if isinstance(reading, RejectedReading) else str(reading.kind)] = taken
            self.emit(taken)
            again = bmi.weight_again(taken, c.readings)  # a weight taken before the height gets its BMI now
            if again is not None:
                c.readings[str(MeasurementKind.WEIGHT)] = again
                self.emit(again)
