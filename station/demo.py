"""`cabin demo`: one whole consultation on the simulator, from check-in to cleaning.

The station runs for real (database, kiosk server, print service over TCP, state machine);
the patient, GP and referent are simulated people acting through the kiosk API, the GP's
control channel and the badge reader. The clock is sped up and starts inside opening hours.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from config.hours import Schedule
from config.schema import CabinConfig, MobileUnit
from hub.config import (
    SCRYPT_MIN_N,
    BookingSection,
    CoordinatorAccount,
    HubConfig,
    PublicSection,
    SiteSection,
    StopSection,
    VehicleSection,
    demo_hub_config,
    hash_password,
)
from hygiene.audit import AuditTrail
from protocol.booking_code import display_code
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.storage import Database
from session.events import CabinEvent, StateChanged
from sim.crew import SimCrew
from sim.rig import SimRig
from sim.seed import calibrate_headphones, enroll_staff
from station.compose import Station

DEMO_REAL_TIMEOUT_S = 120.0


@dataclass
class DemoRecord:
    """What `cabin demo --json` prints."""

    states: list[str] = field(default_factory=list)
    measurements: list[dict[str, object]] = field(default_factory=list)
    prescription: dict[str, object] = field(default_factory=dict)
    cleaning: dict[str, object] = field(default_factory=dict)
    final_state: str = ""

    def to_json(self) -> dict[str, object]:
        """The JSON object of the demo's outcome."""
        return {
            "states": self.states, "measurements": self.measurements, "prescription": self.prescription,
            "cleaning": self.cleaning, "final_state": self.final_state,
        }


def demo_start(config: CabinConfig, real: Clock) -> datetime:
    """A minute into the site's next opening period after `real`'s now.

    Always the next period, never the current one: a demo started just before closing time
    would see the cabin close under it, and its outcome would depend on the hour it runs.
    """
    period = Schedule(config.place(), real.zone).next_opening(real.now())
    if period is None:
        raise StationError("the site has no opening period in the coming year: nothing to simulate")
    return period.start + timedelta(minutes=1)


def demo_hub(config: CabinConfig, token: str, login: str, password: str, port: int) -> HubConfig:
    """The simulator's hub: the cabin bookable at its own site (or the mobile unit's stops), short slots
    (10 minutes and a 5-minute gap, so that a free time is never far off), and room for many simulated
    patients from this one address."""
    place = config.place()
    if isinstance(place, MobileUnit):
        site = SiteSection(code=place.code, name=place.name, town=place.name, stops=tuple(
            StopSection(date=s.date, place=s.place, address=s.place, hours=s.hours) for s in place.stops))
    else:
        site = SiteSection(code=place.code, name=place.name, town=place.name, address=place.address,
                           hours=place.hours)
    return demo_hub_config(config.station.id, place.name, token, login, password, port=port, bookable=site,
                           booking=BookingSection(slot_minutes=10, cleaning_gap_minutes=5, max_future_per_person=20),
                           public=PublicSection(bookings_per_address_per_hour=10_000))


def demo_vehicle_hub(config: CabinConfig, token: str, login: str, password: str, port: int, *,
                     secretary: str, secretary_password: str) -> HubConfig:
    """The simulator's hub on board a mobile unit (docs/design.md, "The mobile office"): `demo_hub` with the
    vehicle's `[vehicle]` section and its secretary's login."""
    hub = demo_hub(config, token, login, password, port)
    code = config.station.site
    account = CoordinatorAccount(username=secretary, name="Secrétariat du cabinet mobile", role="secretary",
                                 site_code=code, password_hash=hash_password(secretary_password, n=SCRYPT_MIN_N, p=1))
    return HubConfig.model_validate({
        **dict(hub), "vehicle": VehicleSection(id=f"{code.lower()}-vehicle", site_code=code, station=config.station.id),
        "coordinators": (account,)})


def upcoming(mobile: MobileUnit, today: date) -> MobileUnit:
    """The programme with a stop to come: one whose stops are all past is replayed whole weeks later (the same
    weekdays), so that the simulator always has a day at a stop to run."""
    if any(stop.date >= today for stop in mobile.stops):
        return mobile
    weeks = (today - min(stop.date for stop in mobile.stops)).days // 7 + 1
    return mobile.model_copy(update={"stops": tuple(
        stop.model_copy(update={"date": stop.date + timedelta(weeks=weeks)}) for stop in mobile.stops)})


async def simulated_start(config: CabinConfig, state_dir: Path) -> datetime:
    """Where a simulated clock (`cabin demo`, `cabin run --sim`) starts on `state_dir`.

    A minute into the next opening after now and after the audit trail's last entry: a run
    again on the same state directory never sends the trail back in time.
    """
    db = Database(state_dir)
    await db.start()
    try:
        last = await AuditTrail(db).last_time()
    finally:
        await db.stop()
    real = Clock()
    return demo_start(config, Clock(start=last) if last is not None and last > real.now() else real)


class _StateLog:
    """Follows the cabin's states; kills the process on entering `stop_after`."""

    def __init__(self, narrate: Callable[[str], None], stop_after: str | None, clock: Clock) -> None:
        self.states: list[str] = []
        self._narrate = narrate
        self._stop_after = stop_after
        self._clock = clock

    def __call__(self, event: CabinEvent) -> None:
        if not isinstance(event, StateChanged):
            return
        state = event.state.value
        if self.states and self.states[-1] == state:
            return
        self.states.append(state)
        self._narrate(f"{self._clock.now():%H:%M:%S}  cabin: {state}")
        if state == self._stop_after:
            os.kill(os.getpid(), signal.SIGKILL)


async def run_demo(config: CabinConfig, state_dir: Path, *, speed: float = 1000.0, seed: int = 1,
                   narrate: Callable[[str], None] = lambda line: None, stop_after: str | None = None) -> DemoRecord:
    """Run one consultation end to end and say what happened."""
    clock = Clock(speed=speed, start=await simulated_start(config, state_dir))
    rig = SimRig(clock, config, seed)
    await rig.start()
    try:
        station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=0)
        log = _StateLog(narrate, stop_after, clock)
        station.cabin.subscribe(log)
        await station.start()
        try:
            async with asyncio.timeout(DEMO_REAL_TIMEOUT_S):
                record = await _consultation(station, rig, narrate)
        except TimeoutError as exc:
            raise StationError(f"the demo did not finish within {DEMO_REAL_TIMEOUT_S:.0f} s") from exc
        finally:
            await station.stop()
    finally:
        await rig.stop()
    record.states = log.states
    return record


async def _consultation(station: Station, rig: SimRig, narrate: Callable[[str], None]) -> DemoRecord:
    await enroll_staff(station.registry, station.clock.now())
    await calibrate_headphones(station.hardware.screenings, station.clock.now())
    crew = SimCrew(station.kiosk.entry_url, station.gp_link.attach, station.book, station.config.station.site, rig,
                   narrate)
    await crew.start()
    try:
        if station.cabin.state is CabinState.AWAITING_CLEANING:
            narrate("the cabin was left needing cleaning: the referent cleans it first")
            await crew.clean()
        appt = await crew.book()
        narrate(f"booked a simulated patient, code {display_code(appt.code)}")
        report = await crew.consultation(appt.code)
        await crew.clean()
        final = await crew.kiosk.wait_state(CabinState.READY.value, CabinState.CLOSED.value)
    finally:
        await crew.stop()
    record = await station.store.load()
    return DemoRecord(
        measurements=[{"kind": m["kind"], "value": m["value"], "unit": m["unit"]} for m in report.measurements],
        prescription={k: report.prescription[k] for k in ("id", "printed", "bytes")},
        cleaning={"required": True, "cleared_by_role": await _cleared_by_role(station, record.last_cleaned_by)},
        final_state=str(final["state"]),
    )


async def _cleared_by_role(station: Station, badge_hash: str) -> str | None:
    role = await station.registry.role_of(badge_hash)
    return role.value if role else None
