"""The rules of a stop's waiting list, pure (docs/design.md, "The secretary's desk"): ticket numbers, the
waiting order, what the waiting-room display shows, and when the cabin's state ends a visit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from hub.errors import Refusal
from hub.store.models import Visit
from protocol.hub import QueueBoard
from protocol.states import CabinState

# The cabin's states with a patient in it: leaving them ends the visit the cabin reported.
PATIENT_STATES = frozenset((CabinState.CHECKING_IN, CabinState.ELIGIBILITY, CabinState.WAITING_FOR_DOCTOR,
                            CabinState.IN_CONSULTATION, CabinState.RECONNECTING, CabinState.WRAPPING_UP))
IN_CABIN = ("called", "seen")  # a visit sent to the doctor, not yet over


@dataclass(frozen=True)
class VisitView:
    """One visit as the desk sees it."""

    id: str
    booking_id: str
    day: date
    ticket: int
    position: int
    reason: str
    status: str
    arrived_at: datetime
    called_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None

    @staticmethod
    def of(row: Visit) -> VisitView:
        return VisitView(**{name: getattr(row, name) for name in VisitView.__dataclass_fields__})


def next_ticket(visits: Sequence[VisitView]) -> int:
    """The day's next ticket number: 1, 2, 3..."""
    return max((v.ticket for v in visits), default=0) + 1


def next_position(visits: Sequence[VisitView]) -> int:
    """The place at the end of the waiting order."""
    return max((v.position for v in visits), default=0) + 1


def waiting(visits: Sequence[VisitView]) -> list[VisitView]:
    """The visits waiting to be called, in their order."""
    return sorted((v for v in visits if v.status == "waiting"), key=lambda v: (v.position, v.ticket))


def in_cabin(visits: Sequence[VisitView]) -> VisitView | None:
    """The visit sent to the doctor and not over yet, if any."""
    return next((v for v in visits if v.status in IN_CABIN), None)


def board(visits: Sequence[VisitView]) -> QueueBoard:
    """The waiting-room display: the ticket called last (still in the cabin or not) and the ones waiting."""
    called = [v for v in visits if v.called_at is not None and v.status in (*IN_CABIN, "done")]
    last = max(called, key=lambda v: v.called_at or v.arrived_at, default=None)
    return QueueBoard(called=last.ticket if last is not None else None,
                      waiting=tuple(v.ticket for v in waiting(visits)))


def reordered(visits: Sequence[VisitView], order: Sequence[str]) -> dict[str, int]:
    """The new positions of the waiting visits, `order` naming each of them once; a refusal otherwise."""
    ids = [v.id for v in waiting(visits)]
    if sorted(order) != sorted(ids):
        raise Refusal(409, "queue_changed", "the waiting list changed meanwhile: look at it again and reorder it")
    return {visit_id: place for place, visit_id in enumerate(order, start=1)}


def ends_visit(state: CabinState) -> bool:
    """Whether the cabin reporting `state` means the patient it held has gone."""
    return state not in PATIENT_STATES
