"""Screenings the kiosk runs itself (docs/design.md, "Screenings on the kiosk").

A hearing or vision screening has no device of its own: the cabin's touchscreen and headphones
are the instrument, and the patient's touches are its protocol. To the rest of the station it is
an `Instrument` like the others: the GP requests it through the device manager, and its result
comes back through the sink as a reading. In between, a pure `Procedure` decides what to present
next (a tone, an optotype) from the answers so far; the kiosk shows `current()` and posts each
answer to `answer()`. One run at a time, tied to the request that started it: a new request
replaces it, the end of the consultation cancels it, and nothing of it outlives the run.
"""

from __future__ import annotations

import logging
import secrets
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from devices.instrument import DeviceHealth, DeviceUnavailable, Instrument, Sink
from devices.measurements import Measurement
from runtime.errors import StationError
from runtime.listeners import Listeners

if TYPE_CHECKING:
    from config.devices import KioskScreeningConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

Listener = Callable[[], None]


class ScreeningError(StationError):
    """An answer that cannot be taken: `stale` (no such run now) or `bad_answer` (malformed)."""

    def __init__(self, code: Literal["stale", "bad_answer"], message: str) -> None:
        super().__init__(message)
        self.code = code


class Procedure(Protocol):
    """The pure rules of one screening: presentations out, the patient's answers in."""

    def next(self) -> Mapping[str, object] | None:
        """What the kiosk presents now (JSON-ready), or None once the procedure has its result."""

    def answer(self, answer: Mapping[str, object]) -> None:
        """Take the patient's answer to the current presentation; ScreeningError("bad_answer") if malformed."""

    def progress(self) -> tuple[int, int]:
        """Presentations done and the most there can be, for a progress bar."""


@dataclass(slots=True)
class _Run:
    ident: str
    procedure: Procedure
    answered: int = 0


class Screening(Instrument):
    """A screening run on the kiosk: started by a request, ended by the patient's last answer (or cancelled)."""

    config: KioskScreeningConfig

    def __init__(self, config: KioskScreeningConfig, sink: Sink, clock: Clock) -> None:
        super().__init__(config, sink)
        self._clock = clock
        self._started = False
        self._run: _Run | None = None
        self._listeners: Listeners[[]] = Listeners(log, f"{config.kind} {self.device_id}: a screening listener")

    @abstractmethod
    def _procedure(self) -> Procedure:
        """A fresh procedure for one run."""

    @abstractmethod
    def _reading(self, procedure: Procedure, host_time: float) -> Measurement:
        """The reading a finished procedure gives."""

    async def start(self) -> None:
        """Nothing to open: the kiosk is the device."""
        self._started = True

    async def stop(self) -> None:
        """Cancel any run; idempotent."""
        self.cancel()
        self._started = False

    async def request_measurement(self) -> None:
        """Start a run for the patient (a run in progress is replaced: the GP asked again)."""
        if not self._started:
            raise DeviceUnavailable(f"{self.config.kind} {self.device_id} is not started")
        self._run = _Run(secrets.token_hex(8), self._procedure())
        log.info("%s %s: a screening begins", self.config.kind, self.device_id)
        self._listeners.tell()

    def health(self) -> DeviceHealth:
        """Connected while started: the screen and the headphones are the kiosk's."""
        return DeviceHealth(device_id=self.device_id, kind=self.config.kind, connected=self._started,
                            last_reading_host_time=self._last_reading_host_time)

    def describe(self) -> str:
        """What this screening can test here, for `cabin diag` (its self-test needs no patient)."""
        return f"the kiosk runs the {self.config.kind} screening"

    def current(self) -> dict[str, object] | None:
        """The run the kiosk shows: its id, this screening's kind and device, the presentation, the progress."""
        run = self._run
        if run is None:
            return None
        done, most = run.procedure.progress()
        return {"run": run.ident, "kind": self.config.kind, "device": self.device_id,
                "step": dict(run.procedure.next() or {}), "answered": run.answered, "progress": [done, most]}

    def answer(self, run_id: str, answer: Mapping[str, object]) -> None:
        """The patient's answer to the current presentation; the last one delivers the reading."""
        run = self._run
        if run is None or run.ident != run_id:
            raise ScreeningError("stale", "this screening is over or was started again")
        run.procedure.answer(answer)
        run.answered += 1
        if run.procedure.next() is None:
            self._run = None
            self._deliver(self._reading(run.procedure, self._clock.monotonic()))
            log.info("%s %s: the screening is done", self.config.kind, self.device_id)
        self._listeners.tell()

    def cancel(self) -> None:
        """End the run without a result (the consultation ended, the station stops)."""
        if self._run is not None:
            self._run = None
            log.info("%s %s: the screening was cancelled", self.config.kind, self.device_id)
            self._listeners.tell()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` whenever the run starts, moves on, ends or is cancelled; returns the unsubscriber."""
        return self._listeners.add(listener)
