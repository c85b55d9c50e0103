"""The pure rules of a stop's waiting list (docs/design.md, "The secretary's desk"): tickets, the order,
the waiting-room board and when the cabin's state ends a visit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.errors import Refusal
from hub.mobile.visits import VisitView, board, ends_visit, in_cabin, next_position, next_ticket, reordered, waiting
from protocol.hub import QueueBoard
from protocol.states import CabinState

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def visit(ticket: int, status: str = "waiting", position: int | None = None, called: int | None = None) -> VisitView:
    return VisitView(id=f"v{ticket}", booking_id=f"b{ticket}", day=date(2026, 12, 7), ticket=ticket,
                     position=ticket if position is None else position, reason="r", status=status,
                     arrived_at=T0 + timedelta(minutes=ticket),
                     called_at=T0 + timedelta(minutes=called) if called is not None else None,
                     started_at=None, ended_at=None)


def test_tickets_and_places_follow_on_from_the_days_highest() -> None:
    assert (next_ticket([]), next_position([])) == (1, 1)
    day = [visit(1, "done"), visit(2, position=5), visit(3, "left")]
    assert (next_ticket(day), next_position(day)) == (4, 6)


def test_the_waiting_list_is_by_position_and_the_board_shows_the_last_called() -> None:
    day = [visit(1, "done", called=10), visit(2, "seen", called=20), visit(3, position=9), visit(4, position=4),
           visit(5, "left", called=30)]
    assert [v.ticket for v in waiting(day)] == [4, 3]
    assert in_cabin(day) == day[1]
    assert board(day) == QueueBoard(called=2, waiting=(4, 3))
    assert board([visit(1)]) == QueueBoard(called=None, waiting=(1,))


def test_a_new_order_names_every_waiting_visit_once() -> None:
    day = [visit(1), visit(2), visit(3, "called", called=5)]
    assert reordered(day, ["v2", "v1"]) == {"v2": 1, "v1": 2}
    for order in (["v2"], ["v2", "v1", "v3"], ["v1", "v1"]):
        with pytest.raises(Refusal) as refused:
            reordered(day, order)
        assert refused.value.code == "queue_changed"


@pytest.mark.parametrize(("state", "ends"), [
    (CabinState.IN_CONSULTATION, False), (CabinState.WAITING_FOR_DOCTOR, False), (CabinState.WRAPPING_UP, False),
    (CabinState.RECONNECTING, False), (CabinState.AWAITING_CLEANING, True), (CabinState.READY, True),
    (CabinState.CLOSED, True), (CabinState.OUT_OF_SERVICE, True)])
def test_leaving_the_patients_states_ends_the_visit(state: CabinState, ends: bool) -> None:
    assert ends_visit(state) is ends
