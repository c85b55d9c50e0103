"""The core of the cabin: the state machine, its persistence, timers and background tasks.

`CabinCore` is the model of a transitions AsyncMachine built from `session/machine.py`.
The actions people take live in the desks (`patient_desk`, `gp_desk`, `staff_desk`), each
a subclass; every action runs under one lock so that the machine sees one event at a time.
Every state entered is persisted and audited under the session's pseudonymous id before
anyone is told of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from transitions.extensions.asyncio import AsyncEventData as EventData
from transitions.extensions.asyncio import AsyncMachine

from config.hours import Schedule
from config.schema import CabinConfig
from devices.manager import DeviceManager, Subscription
from devices.measurements import Reading
from hygiene.audit import AuditTrail
from hygiene.badges import BadgeRegistry
from hygiene.cleaning import CleaningProof, CleaningRun
from hygiene.store import CabinRecord, CabinStore
from printer.service import PrintService
from protocol.hub import GpIdentity
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.storage import StorageError
from session.appointments import Appointment, AppointmentBook
from session.checkin import CheckInDesk
from session.eligibility import Eligibility
from session.machine import PATIENT_STATES, TRANSITIONS, timeout_for

log = logging.getLogger(__name__)

S = CabinState
LIVE = (S.IN_CONSULTATION, S.RECONNECTING)
# While the state storage fails, it is tried again this often (clock seconds): one small write.
STORAGE_RETRY_S = 10.0


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
    readings: dict[str, Reading] = field(default_factory=dict)
    prints: dict[int, dict[str, object]] = field(default_factory=dict)


class CabinCore:
    """The consultation state machine and what it drives."""

    state: CabinState
    trigger: Callable[..., Awaitable[bool]]  # bound by the machine: fire a trigger by name

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
        self._storage_down = False
        self._unclosed: list[str] = []  # sessions a storage failure ended before the disk heard of it
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
        # The proof goes to the audit trail first: a crash in between leaves the cabin marked (it is
        # cleaned again), never cleared without its proof on record.
        await self.audit.append(
            proof.finished_at, "-", "cleaning_cleared", started_by=proof.started_by,
            confirmed_by=proof.confirmed_by, started_at=proof.started_at.isoformat(), steps=list(proof.steps),
        )
        self.record = await self.store.clear_mark(proof)
        self.cleaning_run = None

    async def _entered(self, event: EventData) -> None:
        """After every transition: persist, audit, end or keep the session, arm the timer, tell."""
        source, dest = CabinState[event.transition.source], self.state
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
        """No new patient while the disk cannot keep the mark; forget the current one; retry in the background.

        The mark on disk was written at check-in, before any patient state: it stays as it is.
        Nothing of the patient stays on the screens: the consultation leaves memory now, and
        its end is recorded once the storage works again.
        """
        if not self._storage_down:
            log.error("state storage failed, the cabin takes no new patient: %s", exc)
            self._storage_down = True
            self.fault = f"state storage failed: {exc}"
            self._spawn(self._recover_storage(), "storage-recovery")
        if self.consultation is not None:
            self._unclosed.append(self.consultation.session)
            self.consultation = None
        if self.state is not S.OUT_OF_SERVICE:
            await self.trigger("take_out_of_service", reason="storage")
        self._emit("state", "", {"state": S.OUT_OF_SERVICE.value, "fault": self.fault})

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
        record = await self.store.record_state(now, S.OUT_OF_SERVICE.value, "")
        for session in self._unclosed:
            await self.printer.cancel_session(session)
            await self.audit.append(now, session, "interrupted", state="storage_failed")
            record = await self.store.record_consultation_end(now)
        self._unclosed.clear()
        await self.audit.append(now, "-", "storage_recovered")
        self.record, self._storage_down = record, False
        self.fault = record.out_of_service_reason or None
        mark = "set" if record.cleaning_required else "clear"
        log.warning("state storage works again; the cleaning mark is %s", mark)
        if self.fault is None:
            await self.trigger("settle", reason="storage_recovered")
        else:
            self._emit("state", "", {"state": self.state.value})

    # ----------------------------------------------------------------- timers and tasks

    def _disarm(self) -> None:
        self._epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        seconds = timeout_for(self.state, self.config.timeouts)
        c = self.consultation
        if c is not None and c.deadline is not None and self.state in LIVE:
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
            if c is None or self.state not in LIVE or reading.host_time < c.measure_since:
                log.debug("dropped a reading from %s outside a consultation", reading.device_id)
                continue
            data = reading.to_json()
            data["freshness_s"] = self.devices.freshness_of(reading.device_id)
            c.readings[str(data["kind"])] = reading
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
