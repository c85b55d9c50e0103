"""One run of the disinfection protocol (hygiene/cleaning.py), on the packaged protocol."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from config.loader import load_config
from config.schema import CleaningProtocol, CleaningStep
from hygiene.badges import Badge, Role
from hygiene.cleaning import CleaningProof, CleaningRefused, CleaningRun
from runtime.clock import PARIS

PROTOCOL = load_config().cleaning
STEPS = [s.id for s in PROTOCOL.steps]
CONTACT_INDEX = STEPS.index(PROTOCOL.contact_starts_after)
CONTACT = timedelta(seconds=PROTOCOL.minimum_contact_s)
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)

REFERENT = Badge("a" * 64, Role.HYGIENE_REFERENT, "référente")
OTHER_REFERENT = Badge("b" * 64, Role.HYGIENE_REFERENT, "second referent")
TECHNICIAN = Badge("c" * 64, Role.TECHNICIAN, "tech")


def test_protocol_shape_the_tests_rely_on() -> None:
    assert len(STEPS) >= 2
    assert CONTACT_INDEX < len(STEPS) - 1, "steps follow the contact step in the default protocol"
    assert CONTACT > timedelta(0)


def run_steps(run: CleaningRun, upto: int | None = None, *, gap: timedelta = timedelta(seconds=10)) -> datetime:
    """Confirm steps in order, `gap` apart; return the time of the last one."""
    at = run.started_at
    for step in STEPS[: upto if upto is not None else len(STEPS)]:
        at += gap
        run.confirm(step, at)
    return at


def contact_time(run: CleaningRun) -> datetime:
    return dict(run.done)[PROTOCOL.contact_starts_after]


def test_a_technician_cannot_start_a_run() -> None:
    with pytest.raises(CleaningRefused):
        CleaningRun(PROTOCOL, TECHNICIAN, T0)


def test_steps_go_in_order() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    assert run.next_step == STEPS[0]
    with pytest.raises(CleaningRefused):
        run.confirm(STEPS[1], T0)
    with pytest.raises(CleaningRefused):
        run.confirm("not_a_step", T0)
    assert run.done == []
    run.confirm(STEPS[0], T0)
    with pytest.raises(CleaningRefused):
        run.confirm(STEPS[0], T0)  # the same step twice
    assert run.next_step == STEPS[1]


def test_confirm_after_the_last_step_is_refused() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run)
    assert run.next_step is None
    with pytest.raises(CleaningRefused):
        run.confirm(STEPS[-1], T0 + timedelta(hours=1))


def test_finish_refuses_with_steps_left_even_after_the_contact_time() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run, upto=len(STEPS) - 1)
    with pytest.raises(CleaningRefused, match=STEPS[-1]):
        run.finish(REFERENT, T0 + CONTACT + timedelta(hours=1))


def test_finish_refuses_a_technician_badge() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run)
    with pytest.raises(CleaningRefused):
        run.finish(TECHNICIAN, contact_time(run) + CONTACT + timedelta(hours=1))


def test_contact_time_counts_from_the_contact_step() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    assert run.contact_remaining(T0 + timedelta(hours=5)) == PROTOCOL.minimum_contact_s
    run_steps(run, upto=CONTACT_INDEX + 1, gap=timedelta(minutes=1))
    started = contact_time(run)
    assert run.contact_remaining(started) == PROTOCOL.minimum_contact_s
    assert run.contact_remaining(started + timedelta(seconds=100)) == PROTOCOL.minimum_contact_s - 100
    assert run.contact_remaining(started + CONTACT + timedelta(seconds=1)) == 0.0


def test_finish_refused_before_the_contact_time() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run, gap=timedelta(seconds=10))
    contact_end = contact_time(run) + CONTACT
    assert contact_time(run) > T0
    # The contact time has passed since the run started, but not since the contact step.
    with pytest.raises(CleaningRefused, match="contact"):
        run.finish(REFERENT, T0 + CONTACT + timedelta(seconds=1))
    with pytest.raises(CleaningRefused, match="contact"):
        run.finish(REFERENT, contact_end - timedelta(seconds=1))


def test_finish_refused_when_the_run_started_long_ago_but_contact_just_began() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    at = T0 + CONTACT * 3  # long after the start of the run
    for step in STEPS[: CONTACT_INDEX + 1]:
        run.confirm(step, at)
    for step in STEPS[CONTACT_INDEX + 1:]:
        run.confirm(step, at + timedelta(seconds=5))
    with pytest.raises(CleaningRefused, match="contact"):
        run.finish(REFERENT, at + timedelta(seconds=10))


def test_finish_succeeds_after_the_contact_time() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run)
    finish_at = contact_time(run) + CONTACT
    proof = run.finish(OTHER_REFERENT, finish_at)
    assert isinstance(proof, CleaningProof)
    assert proof.started_by == REFERENT.hash
    assert proof.confirmed_by == OTHER_REFERENT.hash
    assert (proof.started_at, proof.finished_at) == (T0, finish_at)
    assert [s for s, _ in proof.steps] == STEPS
    assert all(datetime.fromisoformat(t) > T0 for _, t in proof.steps)


def test_a_failed_finish_leaves_the_run_usable() -> None:
    run = CleaningRun(PROTOCOL, REFERENT, T0)
    run_steps(run)
    with pytest.raises(CleaningRefused):
        run.finish(REFERENT, contact_time(run))
    assert isinstance(run.finish(REFERENT, contact_time(run) + CONTACT), CleaningProof)


def test_zero_contact_time_protocol_finishes_right_after_the_steps() -> None:
    protocol = CleaningProtocol(
        minimum_contact_s=0,
        steps=(CleaningStep(id="wipe", text="Wipe"), CleaningStep(id="dry", text="Dry")),
        contact_starts_after="wipe",
    )
    run = CleaningRun(protocol, REFERENT, T0)
    run.confirm("wipe", T0)
    run.confirm("dry", T0)
    assert run.finish(REFERENT, T0).steps == (("wipe", T0.isoformat()), ("dry", T0.isoformat()))
