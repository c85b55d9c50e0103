"""What the cabin tells whoever follows it (the kiosk, the GP link, the call relay, the entry lock, systemd).

One small union of frozen events instead of a kind string and a dict: a listener matches on
the type it cares about. Events carry typed values (a `Reading`, a `PrintOutcome`); they are
turned into JSON only at the edges (the kiosk's socket, the GP's data channels). The waveform
never comes this way: at 60 samples a second it goes from the device manager straight to the
GP link (`session/gp_link.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from devices.measurements import Reading
from printer.service import PrintOutcome
from protocol.states import CabinState


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The cabin entered `state` (from `source`; None when the station starts)."""

    session: str  # the consultation's pseudonymous id, "" when there is none
    state: CabinState
    source: CabinState | None


@dataclass(frozen=True, slots=True)
class ScreenChanged:
    """Something the screens show changed without a transition (a code refused, a step confirmed)."""

    session: str


@dataclass(frozen=True, slots=True)
class ReadingTaken:
    """A reading of the current consultation, with how long it stays current."""

    session: str
    reading: Reading
    fresh_for_s: float  # clock seconds after `reading.host_time` during which it is current

    def stale(self, now_monotonic: float) -> bool:
        """True once the reading is older than its instrument's freshness limit."""
        return now_monotonic - self.reading.host_time > self.fresh_for_s


@dataclass(frozen=True, slots=True)
class PrintReported:
    """What became of a prescription the GP sent to the cabin's printer."""

    session: str
    number: str
    outcome: PrintOutcome

    def to_json(self) -> dict[str, object]:
        """The print status as the GP console and the kiosk page read it."""
        o = self.outcome
        return {"job": o.job_id, "number": self.number, "printed": o.printed, "bytes": o.bytes_sent,
                "error": o.error, "warning": o.warning, "reason": o.reason}


@dataclass(frozen=True, slots=True)
class MeasurementRequested:
    """The GP asked for a measurement; `device` will take it."""

    session: str
    kind: str
    device: str


@dataclass(frozen=True, slots=True)
class InstrumentUnavailable:
    """The GP asked for a measurement no instrument can take now."""

    session: str
    kind: str


@dataclass(frozen=True, slots=True)
class ConsultationEnded:
    """The consultation is over (the cabin entered `state`); its data has left memory."""

    session: str
    state: CabinState


@dataclass(frozen=True, slots=True)
class StaffRefused:
    """A badge or a cleaning confirmation was refused; `message` says why."""

    what: Literal["badge", "cleaning"]
    message: str


CabinEvent: TypeAlias = (StateChanged | ScreenChanged | ReadingTaken | PrintReported | MeasurementRequested
                         | InstrumentUnavailable | ConsultationEnded | StaffRefused)
Listener: TypeAlias = Callable[[CabinEvent], None]
