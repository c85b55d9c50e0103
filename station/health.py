"""The cabin's health, reported to the hub for its fleet view (docs/design.md, "The fleet view").

`HealthReporter` looks at the cabin every `health_probe_s` (real seconds: the printer's status
over its link, each instrument's health, the cleaning mark, the event loop's lag) and sends a
`station_health` message through the hub connection at least every `health_interval_s`, and at
once when something an alert is made of changes (the paper runs out, a device drops, the cabin
needs cleaning), so the alert reaches the fleet page within seconds. The hub client keeps the
latest report and sends it again after every reconnection. Nothing of a patient goes in it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import TYPE_CHECKING

from protocol.hub import DeviceState, PrinterState, StationHealth
from protocol.states import CabinState
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.machine import PATIENT_STATES

if TYPE_CHECKING:
    from devices.instrument import DeviceHealth
    from devices.manager import DeviceManager
    from hygiene.store import CabinRecord, CabinStore
    from printer.service import PrintService
    from printer.status import PrinterStatus
    from runtime.clock import Clock
    from session.core import CabinCore
    from station.lag import LagMonitor

log = logging.getLogger(__name__)

LAG_SAMPLES = 512  # the lag monitor's latest ticks looked at: about ten seconds of them
MAX_ERROR = 200  # a device's last error, cut to the message's limit
DISTRIBUTION = "cabin-station"

Send = Callable[[StationHealth], Awaitable[None]]


@dataclass(frozen=True)
class Look:
    """What the reporter saw of the cabin at one probe."""

    state: CabinState
    record: CabinRecord
    devices: tuple[DeviceHealth, ...]
    printer: PrinterStatus | None
    now: datetime  # the station's clock
    lags: tuple[float, ...]
    uptime_s: float


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def dirty_for(state: CabinState, record: CabinRecord, now: datetime) -> float | None:
    """Seconds the cabin has waited for its cleaning since its last patient left; None when clean, or
    while a patient is still in (the mark is set before they touch an instrument)."""
    if not record.cleaning_required or state in PATIENT_STATES:
        return None
    moments = [m for m in (_moment(record.mark_set_at), _moment(record.last_consultation_end)) if m is not None]
    return max(0.0, (now - max(moments)).total_seconds()) if moments else 0.0


def health_of(look: Look, interval_s: float, version: str) -> StationHealth:
    """The `station_health` message for what was seen."""
    printer = look.printer
    return StationHealth(
        state=look.state, cleaning_due=look.record.cleaning_required,
        dirty_for_s=dirty_for(look.state, look.record, look.now),
        last_cleaning=look.record.last_cleaning_at or None,
        devices=tuple(DeviceState(id=d.device_id, kind=d.kind, connected=d.connected, battery=d.battery_percent,
                                  error=d.last_error[:MAX_ERROR] if d.last_error else None)
                      for d in look.devices),
        printer=None if printer is None else PrinterState(
            reachable=printer.reachable, problem=printer.problem_code, paper_low=printer.paper_near_end),
        loop_lag_s=max(look.lags, default=0.0), version=version, uptime_s=look.uptime_s, interval_s=interval_s)


def alarm_key(health: StationHealth) -> tuple[object, ...]:
    """What the hub's alerts are made of in a report (battery by tens): a change is sent at once."""
    printer = health.printer
    return (health.state, health.cleaning_due,
            None if printer is None else (printer.reachable, printer.problem, printer.paper_low),
            tuple((d.id, d.connected, None if d.battery is None else d.battery // 10) for d in health.devices))


def _latest(lags: Iterable[float]) -> tuple[float, ...]:
    return tuple(itertools.islice(lags, LAG_SAMPLES))


def version() -> str:
    """The station's software version, as its package says."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


class HealthReporter:
    """Sends the cabin's health to the hub: regularly, and at once when an alert could change."""

    def __init__(self, send: Send, *, cabin: CabinCore, store: CabinStore, devices: DeviceManager,
                 printer: PrintService, lag: LagMonitor, clock: Clock, interval_s: float, probe_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._cabin = cabin
        self._store = store
        self._devices = devices
        self._printer = printer
        self._lag = lag
        self._clock = clock
        self._interval_s = interval_s
        self._probe_s = min(probe_s, interval_s)
        self._monotonic = monotonic
        self._started = monotonic()
        self._version = version()
        self._tasks = TaskSet("health", log)

    async def start(self) -> None:
        """Start looking and reporting in the background; idempotent."""
        if len(self._tasks) == 0:
            self._started = self._monotonic()
            self._tasks.spawn(self._run(), "health-report")

    async def stop(self) -> None:
        """Stop reporting; idempotent."""
        await self._tasks.cancel_all()

    async def look(self) -> StationHealth:
        """The cabin's health now."""
        record = await self._store.load()
        try:
            printer: PrinterStatus | None = await self._printer.status()
        except (OSError, StationError) as exc:
            log.warning("the printer's status is not in the health report: %s", exc)
            printer = None
        seen = Look(state=self._cabin.state, record=record, devices=tuple(self._devices.health()), printer=printer,
                    now=self._clock.now(), lags=_latest(reversed(self._lag.lags)),
                    uptime_s=self._monotonic() - self._started)
        return health_of(seen, self._interval_s, self._version)

    async def _run(self) -> None:
        sent_key: tuple[object, ...] | None = None
        sent_at = float("-inf")
        while True:
            try:
                health = await self.look()
            except StationError as exc:
                log.warning("the cabin's health could not be looked at: %s", exc)
            else:
                key = alarm_key(health)
                if key != sent_key or self._monotonic() - sent_at >= self._interval_s:
                    if sent_key is not None and key != sent_key:
                        log.info("cabin health changed: sent to the hub at once")
                    await self._send(health)
                    sent_key, sent_at = key, self._monotonic()
            await asyncio.sleep(self._probe_s)
