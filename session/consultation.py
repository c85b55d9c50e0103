"""The consultation's data, and the immutable snapshot of the cabin the screens are drawn from.

`Consultation` is everything about the current patient, in memory only: the core owns it and
the desks fill it in under the core's lock; it is gone when the session ends. `CabinSnapshot`
is a frozen copy of the cabin at one instant (state, times, the consultation, the cleaning
run): views and the hub status read it, never the live objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from config.hours import Period
from hygiene.cleaning import CleaningRun
from printer.document import Prescription
from protocol.control import Prescribe
from protocol.eligibility import Eligibility
from protocol.hub import GpIdentity
from protocol.states import CabinState
from session.appointments import Appointment
from session.events import MeasurementRequested, PrintReported, ReadingTaken


@dataclass(frozen=True, slots=True)
class CodeRefused:
    """Why the last booking code typed was refused, as the kiosk shows it."""

    reason: str
    message: str
    retry_after_s: float
    opens_at: datetime | None = None  # a code that came too early: when it is accepted

    def to_json(self) -> dict[str, object]:
        """The refusal as the kiosk page reads it."""
        return {"reason": self.reason, "message": self.message, "retry_after_s": self.retry_after_s,
                "opens_at": self.opens_at.isoformat() if self.opens_at else None}


@dataclass(frozen=True, slots=True)
class Issued:
    """A prescription the GP sent, as asked (`request`) and as it prints (`prescription`, with its number)."""

    request: Prescribe
    prescription: Prescription


@dataclass
class Consultation:
    """Everything about the current patient; memory only, gone when the session ends."""

    session: str
    appointment: Appointment | None = None
    refusal: CodeRefused | None = None
    eligibility: Eligibility | None = None
    representative: str | None = None
    gp: GpIdentity | None = None
    measure_since: float = float("inf")  # readings taken before the GP joined are not this patient's
    deadline: float | None = None
    waiting_since: datetime | None = None
    requested: MeasurementRequested | None = None
    readings: dict[str, ReadingTaken] = field(default_factory=dict)  # the latest of each kind
    prints: dict[int, PrintReported] = field(default_factory=dict)  # by print job
    prescriptions: dict[str, Issued] = field(default_factory=dict)  # by the console's id, in order sent
    visit: str | None = None  # on board: the secretary's visit the patient was called from

    def snapshot(self) -> ConsultationSnapshot:
        """A frozen copy."""
        return ConsultationSnapshot(
            session=self.session, appointment=self.appointment, refusal=self.refusal,
            eligibility=self.eligibility, gp=self.gp, waiting_since=self.waiting_since, requested=self.requested,
            readings=tuple(self.readings.values()), prints=tuple(self.prints.values()), visit=self.visit,
        )


@dataclass(frozen=True, slots=True)
class ConsultationSnapshot:
    """The consultation at one instant."""

    session: str
    appointment: Appointment | None
    refusal: CodeRefused | None
    eligibility: Eligibility | None
    gp: GpIdentity | None
    waiting_since: datetime | None
    requested: MeasurementRequested | None
    readings: tuple[ReadingTaken, ...]
    prints: tuple[PrintReported, ...]
    visit: str | None = None


@dataclass(frozen=True, slots=True)
class CleaningSnapshot:
    """The cleaning run at one instant: the steps done, the next one, the contact time left."""

    done: frozenset[str]
    next_step: str | None
    contact_remaining_s: float

    @classmethod
    def of(cls, run: CleaningRun, now: datetime) -> CleaningSnapshot:
        """The snapshot of `run` at `now`."""
        return cls(frozenset(step for step, _ in run.done), run.next_step, run.contact_remaining(now))


@dataclass(frozen=True, slots=True)
class CabinSnapshot:
    """The cabin at one instant, for the screens and the hub."""

    state: CabinState
    now: datetime
    monotonic: float
    open: bool
    current_period: Period | None
    next_opening: Period | None
    cleaning_required: bool
    fault: str | None
    consultation: ConsultationSnapshot | None
    cleaning: CleaningSnapshot | None
