"""`cabin run`: the station until SIGINT or SIGTERM; with `--sim`, on the simulator.

On the simulator the clock starts inside the site's opening hours, a simulated GP and a
hygiene referent are on duty, and simulated patients go first with the clock sped up. Then
the clock slows to real time and booking codes are printed so that a person can check in
through the kiosk API.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from config.clock import Clock
from config.schema import CabinConfig
from station.compose import Station

if TYPE_CHECKING:
    from sim.crew import SimCrew
    from sim.rig import SimRig

HUMAN_CODES = 3


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_station(config: CabinConfig, state_dir: Path, *, sim: bool, speed: float = 1.0,
                      patients: int = 1, port: int | None = None, say: Callable[[str], None] = print) -> int:
    """Run until asked to stop; returns the exit status."""
    stop = _stop_event()
    if not sim:
        station = Station(config=config, clock=Clock(), state_dir=state_dir, kiosk_port=port)
        await station.start()
        say(f"cabin station {config.station.id} running")
        say(f"kiosk API: {station.kiosk.url}/api/state   state directory: {state_dir}")
        try:
            await stop.wait()
        finally:
            await station.stop()
        return 0
    from sim.rig import SimRig
    from station.demo import demo_start

    clock = Clock(speed=speed, start=demo_start(config, Clock()))
    rig = SimRig(clock, config)
    await rig.start()
    try:
        station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=port)
        await station.start()
        try:
            await _on_simulator(station, rig, stop, patients, say)
        finally:
            await station.stop()
    finally:
        await rig.stop()
    return 0


async def _on_simulator(station: Station, rig: SimRig, stop: asyncio.Event, patients: int,
                        say: Callable[[str], None]) -> None:
    site = station.config.place()
    say(f"cabin station {station.config.station.id} on the simulator, site {site.code} {site.name}")
    say(f"simulated time starts at {station.clock.now():%A %d %B %Y %H:%M} (speed x{station.clock.speed:g})")
    say(f"kiosk API: {station.kiosk.url}/api/state   state directory: {station.state_dir}")
    from sim.crew import SimCrew
    from sim.seed import enroll_staff

    await enroll_staff(station.registry, station.clock.now())
    crew = SimCrew(station.kiosk.url, station.gp_link.attach, station.book, station.config.station.site, rig, say)
    await crew.start()
    try:
        async with asyncio.TaskGroup() as group:
            duty = group.create_task(_on_duty(crew, station.clock, patients, say))
            await stop.wait()
            duty.cancel()
    finally:
        await crew.stop()
    say("stopped")


async def _on_duty(crew: SimCrew, clock: Clock, patients: int, say: Callable[[str], None]) -> None:
    if (await crew.kiosk.current())["state"] == "awaiting_cleaning":
        await crew.clean()
    for n in range(patients):
        appt = await crew.book()
        say(f"simulated patient {n + 1} of {patients}, code {appt.code}")
        await crew.consultation(appt.code)
        await crew.clean()
    if clock.speed != 1.0:
        clock.set_speed(1.0)
        say(f"the simulated clock now runs at real time ({clock.now():%H:%M})")
    codes = [(await crew.book(minutes_ahead=5 + 20 * i)).code for i in range(HUMAN_CODES)]
    url = crew.kiosk.base_url
    say(f"your turn: booking codes {', '.join(codes)} (slots 20 minutes apart); for example:")
    say(f"  curl -s -X POST {url}/api/checkin -d '{{\"code\": \"{codes[0]}\"}}'")
    say(f"  curl -s -X POST {url}/api/identity -d '{{\"confirm\": true}}'")
    say(f"  curl -s -X POST {url}/api/consent -d '{{\"accepted\": true}}'")
    say(f"  curl -s -X POST {url}/api/leave      (once the GP has ended and the prescription printed)")
    say("the simulated GP joins, measures and prescribes; the referent cleans afterwards. Ctrl-C stops.")
    async with asyncio.TaskGroup() as group:
        group.create_task(crew.gp_on_duty())
        group.create_task(crew.referent_on_duty())
