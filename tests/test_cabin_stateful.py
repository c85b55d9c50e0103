"""Random sequences of everything that can happen to a cabin, checked by Hypothesis.

The invariant of the whole project: a check-in is accepted only when the last cleaning is
newer than the last consultation end, and the cleaning mark, once set, is cleared by a
completed cleaning and by nothing else: not a timeout, a badge, a restart or a crash.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import get_args

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from config.devices import SimDeviceConfig
from config.intervals import Interval, WeeklyHours
from config.loader import load_config
from config.schema import CabinConfig, Site
from hygiene.store import CabinRecord
from protocol.booking_code import CODE_ALPHABET
from protocol.states import CabinState as S
from runtime.clock import Clock
from session.appointments import Appointment
from session.core import CabinCore, CabinRefusal
from session.gp_desk import GpDesk
from session.machine import PATIENT_STATES, timeout_for
from session.patient_desk import PatientDesk
from session.staff_desk import StaffDesk
from sim.badges import REFERENT_BADGE, TECHNICIAN_BADGE
from sim.rig import SimRig
from sim.seed import DEMO_GP, enroll_staff
from station.compose import Station
from tests.conftest import MONDAY_MORNING


class ManualClock(Clock):
    """A clock that moves only when told; timers never fire by themselves (rules fire timeouts)."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start=start)
        self._t = 0.0

    def monotonic(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def call_later(self, seconds: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(10**6, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(10**6)


def always_open() -> CabinConfig:
    """The packaged configuration at a site open all day, every day, with in-process instruments.

    The hardware simulators are exercised elsewhere; here the state machine runs thousands
    of steps, so the instruments are the in-process stand-ins and badges arrive directly.
    """
    config = load_config()
    simulated = get_args(SimDeviceConfig.model_fields["kind"].annotation)  # what the in-process stand-ins are
    devices = tuple(d.model_copy(update={"driver": "sim"}) for d in config.devices if d.kind in simulated)
    none = config.badge_reader.model_copy(update={"driver": "none"})
    day = (Interval.parse("00:00-23:59"),)
    site = Site(code="TST001", name="Test", address="Test", phone="01 99 00 00 00",
                hours=WeeklyHours(mon=day, tue=day, wed=day, thu=day, fri=day, sat=day, sun=day))
    station = config.station.model_copy(update={"site": "TST001"})
    return config.model_copy(update={"sites": (site,), "station": station, "devices": devices,
                                     "badge_reader": none, "entry_lock": none})


BADGES = st.sampled_from([REFERENT_BADGE, TECHNICIAN_BADGE, "FFFFFFFFFF", "not a badge", ""])


class CabinLife(RuleBasedStateMachine):
    """Drives one station through random events and restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="cabin-stateful-"))
        self.config = always_open()
        self.clock = ManualClock(MONDAY_MORNING)
        self.codes = 0
        self.must_clean = False
        self.station: Station | None = None
        self.rig: SimRig | None = None
        self.run(self._boot())
        self.run(enroll_staff(self.station.registry, self.clock.now()))  # type: ignore[union-attr]

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    async def _boot(self) -> None:
        self.rig = SimRig(self.clock, self.config)
        await self.rig.start()
        self.station = Station(config=self.config, clock=self.clock, state_dir=self.dir, rig=self.rig, kiosk_port=0)
        await self.station.start()

    async def _halt(self) -> None:
        assert self.station is not None and self.rig is not None
        await self.station.stop()
        await self.rig.stop()

    def teardown(self) -> None:
        self.run(self._halt())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def cabin(self) -> CabinCore:
        assert self.station is not None
        return self.station.cabin

    @property
    def patient(self) -> PatientDesk:
        assert self.station is not None
        return self.station.patient_desk

    @property
    def gp(self) -> GpDesk:
        assert self.station is not None
        return self.station.gp_desk

    @property
    def staff(self) -> StaffDesk:
        assert self.station is not None
        return self.station.staff_desk

    def record(self) -> CabinRecord:
        assert self.station is not None
        return self.run(self.station.store.load())  # type: ignore[no-any-return]

    def attempt(self, coro) -> None:  # type: ignore[no-untyped-def]
        try:
            self.run(coro)
        except CabinRefusal:
            pass

    @rule(age=st.sampled_from([40, 16, 12]))
    def check_in(self, age: int) -> None:
        assert self.station is not None
        self.codes += 1
        code = "".join(CODE_ALPHABET[int(d)] for d in f"{self.codes:08d}")
        today = self.clock.now().date()
        appt = Appointment(code=code, patient_name="Canari Test", birth_date=date(today.year - age, 1, 1), sex="F",
                           slot_start=self.clock.now(), slot_minutes=20, site="TST001", gp=DEMO_GP.name)
        self.run(self.station.book.add(appt))
        before, state_before = self.record(), self.cabin.state
        self.attempt(self.patient.submit_code(code))
        self.attempt(self.patient.confirm_identity())
        if self.cabin.state is S.ELIGIBILITY and state_before is not S.ELIGIBILITY:
            assert not before.cleaning_required
            assert before.last_consultation_end == "" or before.last_cleaning_at > before.last_consultation_end
            self.must_clean = True
            event("check-in accepted")

    @rule()
    def wrong_code(self) -> None:
        self.attempt(self.patient.submit_code("ZZZZZZ"))

    @rule(accepted=st.booleans(), representative=st.sampled_from(["", "Claire Test"]))
    def eligibility(self, accepted: bool, representative: str) -> None:
        if representative:
            self.attempt(self.patient.declare_representative(True, representative))
        self.attempt(self.patient.give_consent(accepted))

    @rule()
    def gp_joins(self) -> None:
        c = self.cabin.consultation
        self.attempt(self.gp.join(c.session if c else "nobody", DEMO_GP))

    @rule()
    def gp_ends(self) -> None:
        c = self.cabin.consultation
        self.attempt(self.gp.end(c.session if c else "nobody"))

    @rule()
    def gp_link_drops(self) -> None:
        c = self.cabin.consultation
        self.attempt(self.gp.lost(c.session if c else "nobody"))

    @rule()
    def patient_leaves(self) -> None:
        self.attempt(self.patient.leave())

    @rule()
    def a_timeout_fires(self) -> None:
        if timeout_for(self.cabin.state, self.config.timeouts) is not None:  # its timer fires now instead of later
            self.run(self.cabin.time_out())

    @rule(badge=BADGES)
    def badge(self, badge: str) -> None:
        assert self.station is not None
        was_cleaning = self.cabin.state is S.CLEANING
        self.run(self.station.on_badge(badge))
        if was_cleaning and self.cabin.state in (S.READY, S.CLOSED):
            assert badge == REFERENT_BADGE
            self.must_clean = False
            event("cleaning completed")

    @rule()
    def a_whole_cleaning(self) -> None:
        """The referent's whole protocol at once, so that random walks also reach a clean cabin."""
        self.badge(REFERENT_BADGE)
        for step in self.config.cleaning.steps:
            self.attempt(self.staff.confirm_cleaning_step(step.id))
        self.time_passes(int(self.config.cleaning.minimum_contact_s) + 1)
        self.badge(REFERENT_BADGE)

    @rule(skip=st.booleans())
    def cleaning_step(self, skip: bool) -> None:
        run = self.cabin.cleaning
        steps = [s.id for s in self.config.cleaning.steps]
        step = (run.next_step if run else None) or steps[0]
        self.attempt(self.staff.confirm_cleaning_step(steps[-1] if skip else step))

    @rule(seconds=st.sampled_from([1, 30, 120, 301, 900]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def restart(self) -> None:
        self.run(self._halt())
        self.run(self._boot())
        if self.must_clean:
            assert self.cabin.state is S.AWAITING_CLEANING
            event("restart with the mark set")

    @invariant()
    def the_mark_is_exactly_where_it_should_be(self) -> None:
        record = self.record()
        assert record.cleaning_required == self.must_clean
        if self.cabin.state in PATIENT_STATES | {S.AWAITING_CLEANING, S.CLEANING}:
            assert record.cleaning_required


TestCabinLife = CabinLife.TestCase
TestCabinLife.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
