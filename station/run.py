"""`cabin run`: the station until SIGINT or SIGTERM; with `--sim`, on the simulator.

On the simulator a hub runs in the same process (one station, one demo GP login), the clock
starts inside the site's opening hours, a simulated GP and a hygiene referent are on duty,
and simulated patients go first with the clock sped up. Then the clock slows to real time
and booking codes are printed: a person plays the patient on the kiosk page in one browser
tab and the GP in the hub's console in another (or lets the simulated GP see them, with
`--sim-gp`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from config.hours import Schedule
from config.schema import CabinConfig, CheckInRules, HubSection
from protocol.booking_code import display_code
from runtime.clock import Clock
from runtime.errors import StationError
from session.appointments import checkin_window
from session.events import CabinEvent, StateChanged
from station.compose import Station
from station.kiosk import KEY_COOKIE
from station.logs import LOG_NAME, SimLog
from station.notify import SystemdNotifier

if TYPE_CHECKING:
    from hub.server import Hub
    from sim.booker import HubBooker
    from sim.crew import SimCrew
    from sim.rig import SimRig
    from sim.secretary import SimSecretary

RENEW_BEFORE_MIN = 2  # a fresh code is printed this many minutes before the current one expires
CODE_POLL_S = 5.0  # clock seconds between looks at whether the current code was used
DEMO_GP_LOGIN = "demo"
DEMO_SECRETARY_LOGIN = "secretariat"
PRINTS = "prints"  # the simulated printer's receipts, as PNG, in the state directory
SESSION_DAYS = 7  # days ahead the simulator's GP publishes her sessions


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_station(config: CabinConfig, state_dir: Path, *, sim: bool, speed: float = 1.0,
                      patients: int = 1, port: int | None = None, hub_port: int = 8443, sim_gp: bool = False,
                      sim_secretary: bool = False, say: Callable[[str], None] = print) -> int:
    """Run until asked to stop; returns the exit status."""
    stop = _stop_event()
    if not sim:
        # Under systemd the kiosk's start page goes in the unit's RuntimeDirectory, for the kiosk
        # browser's group (systemd/cabin-station.service; docs/design.md, "The kiosk key").
        runtime = os.environ.get("RUNTIME_DIRECTORY")
        station = Station(config=config, clock=Clock(), state_dir=state_dir, kiosk_port=port,
                          kiosk_key_dir=Path(runtime) if runtime else None,
                          kiosk_group=os.environ.get("CABIN_KIOSK_GROUP"))
        notifier = SystemdNotifier()
        await notifier.start()
        try:
            await station.start()
            say(f"cabin station {config.station.id} running")
            say(f"kiosk page: {station.kiosk.url}/   start page (with its key): {station.kiosk.start_page}")
            say(f"state directory: {state_dir}")
            say(f"hub: {config.hub.url if config.hub else 'none configured (no remote GP can join)'}")
            unsubscribe = _tell_systemd(station, notifier)
            try:
                await stop.wait()
            finally:
                unsubscribe()
                await station.stop()
        finally:
            await notifier.stop()
        return 0
    from hub.server import Hub
    from sim.booker import HubBooker
    from sim.rig import SimRig
    from sim.secretary import SimSecretary
    from station.demo import demo_hub, demo_vehicle_hub, simulated_start, upcoming

    on_board = config.station.mode == "on_board" and config.mobile is not None
    if on_board and config.mobile is not None:
        config = config.model_copy(update={"mobile": upcoming(config.mobile, Clock().now().date())})
    sim_log = SimLog(state_dir)
    await sim_log.start()
    try:
        token, password, desk_password = secrets.token_urlsafe(32), secrets.token_hex(4), secrets.token_hex(4)
        clock = Clock(speed=speed, start=await simulated_start(config, state_dir))
        # The hub keeps the simulated time too: its slots are the simulated day's.
        hub = Hub(demo_vehicle_hub(config, token, DEMO_GP_LOGIN, password, hub_port, secretary=DEMO_SECRETARY_LOGIN,
                                   secretary_password=desk_password) if on_board
                  else demo_hub(config, token, DEMO_GP_LOGIN, password, hub_port), wall=lambda: clock.now().timestamp())
        await hub.start()
        try:
            await _publish_sessions(hub, config, clock)
            config = config.model_copy(update={
                "hub": HubSection(url=hub.station_url, station_id=config.station.id, token=SecretStr(token)),
            })
            rig = SimRig(clock, config, prints_dir=state_dir / PRINTS)
            await rig.start()
            booker = HubBooker(hub.url, config.station.site, rig.rng)
            await booker.start()
            secretary = SimSecretary(hub.url, DEMO_SECRETARY_LOGIN, desk_password, rig.rng, say) if on_board else None
            try:
                station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=port)
                await station.start()
                try:
                    say(f"GP console: {hub.url}/   login {DEMO_GP_LOGIN}, password {password}")
                    if on_board:
                        say(f"secretary's desk: {hub.url}/desk   login {DEMO_SECRETARY_LOGIN}, "
                            f"password {desk_password}")
                    say(f"booking page: {hub.url}/book/")
                    duty = Duty(patients, sim_gp, sim_secretary, secretary)
                    await _on_simulator(station, rig, booker, stop, duty, say)
                finally:
                    await station.stop()
            finally:
                if secretary is not None:
                    await secretary.stop()
                await booker.stop()
                await rig.stop()
        finally:
            await hub.stop()
    finally:
        await sim_log.stop()
    return 0


async def _publish_sessions(hub: Hub, config: CabinConfig, clock: Clock) -> None:
    """The demo GP on duty in the cabin for every opening of its site in the coming week; today's from
    now, so that slots are cut from now on and the next free one's check-in is open or soon is."""
    now = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)  # the first slot is still to come
    for period in Schedule(config.place(), clock.zone).periods(now.date()):
        if period.start > now + timedelta(days=SESSION_DAYS):
            break
        if period.end > now:
            await hub.book.publish_session(DEMO_GP_LOGIN, (config.station.id,), max(period.start, now), period.end,
                                           actor="simulator")


def _tell_systemd(station: Station, notifier: SystemdNotifier) -> Callable[[], None]:
    """READY now, then the cabin's state as systemd's STATUS line; returns the unsubscriber."""
    name = station.config.station.id
    notifier.ready(f"cabin {name}: {station.cabin.state.value}")

    def tell(event: CabinEvent) -> None:
        if isinstance(event, StateChanged):
            notifier.status(f"cabin {name}: {event.state.value}")

    return station.cabin.subscribe(tell)


@dataclass(frozen=True)
class Duty:
    """What the simulated people do: `patients` first at speed, then whether the simulated GP (and, on board, the
    simulated secretary, `secretary`) go on while a person plays the other roles."""

    patients: int
    sim_gp: bool
    sim_secretary: bool
    secretary: SimSecretary | None  # on board a mobile unit


async def _on_simulator(station: Station, rig: SimRig, booker: HubBooker, stop: asyncio.Event, duty: Duty,
                        say: Callable[[str], None]) -> None:
    site = station.config.place()
    say(f"cabin station {station.config.station.id} on the simulator, site {site.code} {site.name}")
    say(f"simulated time starts at {station.clock.now():%A %d %B %Y %H:%M} (speed x{station.clock.speed:g})")
    say(f"kiosk page: {station.kiosk.url}/   open it as {station.kiosk.entry_url}")
    say(f"state directory: {station.state_dir}   log: {station.state_dir / LOG_NAME}")
    say(f"prints (each receipt as a PNG): {rig.printer.png_dir}/")
    from sim.crew import SimCrew
    from sim.seed import calibrate_headphones, enroll_staff

    await enroll_staff(station.registry, station.clock.now())
    await calibrate_headphones(station.hardware.screenings, station.clock.now())
    crew = SimCrew(station.kiosk.entry_url, station.gp_link.attach, station.book, station.config.station.site, rig, say,
                   booker=booker)
    await crew.start()
    try:
        async with asyncio.TaskGroup() as group:
            work = (_on_board(crew, duty.secretary, station.clock, duty, say) if duty.secretary is not None
                    else _on_duty(crew, station.clock, station.config.checkin, duty.patients, duty.sim_gp, say))
            task = group.create_task(work)
            await stop.wait()
            task.cancel()
    finally:
        await crew.stop()
    say("stopped")


async def _on_duty(crew: SimCrew, clock: Clock, rules: CheckInRules, patients: int, sim_gp: bool,
                   say: Callable[[str], None]) -> None:
    if (await crew.kiosk.current())["state"] == "awaiting_cleaning":
        await crew.clean()
    for n in range(patients):
        appt = await crew.book()
        say(f"simulated patient {n + 1} of {patients}, code {display_code(appt.code)} for {appt.slot_start:%H:%M}")
        opens, _ = checkin_window(appt.slot_start, rules)
        await clock.sleep(max(0.0, (opens - clock.now()).total_seconds()))
        await crew.consultation(appt.code)
        await crew.clean()
    if clock.speed != 1.0:
        clock.set_speed(1.0)
        say(f"the simulated clock now runs at real time ({clock.now():%H:%M})")
    url, key = crew.kiosk.base_url, f"-b {KEY_COOKIE}={crew.kiosk.key}"
    say(f"your turn: on the kiosk page {crew.kiosk.entry_url} check in with the booking code printed below (a "
        "fresh one follows whenever it is used or about to expire), or with one you book yourself on the booking "
        "page printed above; or through the API, for example:")
    say(f"  curl -s {key} -X POST {url}/api/checkin -d '{{\"code\": \"CODE\"}}'")
    say(f"  curl -s {key} -X POST {url}/api/identity -d '{{\"confirm\": true}}'")
    say(f"  curl -s {key} -X POST {url}/api/consent -d '{{\"accepted\": true}}'")
    say(f"  curl -s {key} -X POST {url}/api/leave      (once the GP has ended and the prescription printed)")
    if sim_gp:
        say("the simulated GP joins, measures and prescribes; the referent cleans afterwards. Ctrl-C stops.")
    else:
        say("you are the GP too: log in to the GP console and join; the referent cleans afterwards. Ctrl-C stops.")
    async with asyncio.TaskGroup() as group:
        if sim_gp:
            group.create_task(crew.gp_on_duty())
        group.create_task(crew.referent_on_duty())
        group.create_task(_keep_a_code(crew, clock, rules, say))


async def _on_board(crew: SimCrew, secretary: SimSecretary, clock: Clock, duty: Duty,
                    say: Callable[[str], None]) -> None:
    """A day at a stop: the secretary opens it, then welcomes booked patients and walk-ins in turn, each seen by
    the GP in the vehicle and followed by the light cleaning; then a person plays the secretary or the GP."""
    await secretary.start()
    if (await crew.kiosk.current())["state"] == "awaiting_cleaning":
        await crew.clean()
    await secretary.open_stop()
    await crew.kiosk.wait_state("ready")
    for n in range(duty.patients):
        if n % 2 == 0:
            appt = await crew.book()
            say(f"simulated patient {n + 1} of {duty.patients}, booked online, code {display_code(appt.code)} "
                f"for {appt.slot_start:%H:%M}")
            await secretary.welcome(appt.code, appt.birth_date)
        else:
            say(f"simulated patient {n + 1} of {duty.patients}, without a booking")
            await secretary.walk_in()
        await secretary.call_next()
        await crew.seen_on_board()
        await crew.clean()
    if clock.speed != 1.0:
        clock.set_speed(1.0)
        say(f"the simulated clock now runs at real time ({clock.now():%H:%M})")
    say("your turn: on the secretary's desk, welcome the patients booked for today (book some on the booking page) "
        "or register walk-ins, and send them to the doctor with \"Patient suivant\"; in the GP console, see them "
        "(log in, join, measure, prescribe, end): once the prescription has printed, the patient leaves and the "
        "referent cleans. Close the stop on the desk at the end of the day: the full cleaning follows. Ctrl-C stops.")
    if duty.sim_gp:
        say("the simulated GP sees the patients you send (--sim-gp)")
    if duty.sim_secretary:
        say("the simulated secretary registers a walk-in and sends them to you whenever the cabin is ready "
            "(--sim-secretary)")
    async with asyncio.TaskGroup() as group:
        if duty.sim_gp:
            group.create_task(crew.gp_on_duty())
        if duty.sim_secretary:
            group.create_task(_keep_one_waiting(crew, secretary, clock, say))
        group.create_task(crew.referent_on_duty())


async def _keep_one_waiting(crew: SimCrew, secretary: SimSecretary, clock: Clock, say: Callable[[str], None]) -> None:
    """The simulated secretary sends a walk-in to the doctor whenever the cabin is ready for one."""
    while True:
        await crew.kiosk.wait_state("ready")
        try:
            await secretary.walk_in()
            await secretary.call_next()
        except StationError as exc:
            say(f"the simulated secretary could not send a patient ({exc}): trying again in a minute")
            await clock.sleep(60.0)
            continue
        await crew.kiosk.wait_for(lambda view: view.get("state") != "ready")


async def _keep_a_code(crew: SimCrew, clock: Clock, rules: CheckInRules, say: Callable[[str], None]) -> None:
    """Always one booking code a person can use now: a fresh one once it is used or about to expire.

    While the cabin is closed no code is printed: the next one comes when it opens. A code that
    cannot be booked (the state storage failed) is tried again a minute later.
    """
    while True:
        try:
            await _one_code(crew, clock, rules, say)
        except StationError as exc:
            say(f"no booking code for now ({exc}): trying again in a minute")
            await clock.sleep(60.0)


async def _one_code(crew: SimCrew, clock: Clock, rules: CheckInRules, say: Callable[[str], None]) -> None:
    """Book the hub's next free time and print its code; return once it is used or about to expire."""
    view = await crew.kiosk.current()
    if view["state"] == "closed":
        nxt = view.get("next_opening")
        when = f" until {datetime.fromisoformat(nxt['start']):%A %H:%M}" if nxt else ""
        say(f"the cabin is closed{when}: the next booking code comes when it opens")
        await crew.kiosk.wait_for(lambda v: v.get("state") != "closed")
        return
    appt = await crew.book()
    opens, closes = checkin_window(appt.slot_start, rules)
    when = "now" if opens <= clock.now() else f"from {opens:%H:%M}"
    say(f"booking code {display_code(appt.code)} for {appt.slot_start:%H:%M}, valid {when} until {closes:%H:%M}")
    renew = closes - timedelta(minutes=RENEW_BEFORE_MIN)
    while True:
        await clock.sleep(CODE_POLL_S)
        if clock.now() >= renew or await crew.used(appt.code):
            return

