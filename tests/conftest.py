"""Shared fixtures: a whole station on the simulator, in this process, with a fast clock."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import URL

from config.loader import load_config
from config.schema import CabinConfig
from fleet.coturn import TurnServer
from fleet.coturn import coturn as coturn_server
from fleet.redis import RedisServer, redis_server
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from sim.camera import SimCamera
from sim.crew import SimCrew
from sim.rig import SimRig
from sim.seed import calibrate_headphones, enroll_staff
from station.compose import Station
from tests.postgres import CannotStart, PostgresServer, postgres_server, skip_or_fail

# A Monday inside Nangis's opening hours.
MONDAY_MORNING = datetime(2026, 11, 30, 9, 5, tzinfo=PARIS)


@pytest.fixture(autouse=True, scope="session")
def _scratch_in_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Temporary files of the tests and their children under pytest's own directory, not /tmp.

    A simulator killed with SIGKILL (as the crash tests do on purpose) cannot remove its
    pseudo-terminals' directories; pytest removes its old base directories itself.
    """
    scratch = tmp_path_factory.mktemp("scratch")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # computed again from TMPDIR
    yield
    if previous is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = previous
    tempfile.tempdir = None


def config_with(**timeouts: float) -> CabinConfig:
    """The packaged configuration with some timeouts replaced."""
    config = load_config()
    return config.model_copy(update={"timeouts": config.timeouts.model_copy(update=timeouts)})


@asynccontextmanager
async def running_station(state_dir: Path, config: CabinConfig | None = None, *, speed: float = 1000.0,
                          start: datetime = MONDAY_MORNING,
                          checkin_as_configured: bool = False) -> AsyncIterator[tuple[Station, SimCrew]]:
    """A started station with its simulator and crew (kiosk client, GP channel, referent).

    On a fast clock a check-in stays open 240 minutes after its slot (the rules' longest): at x1000 the
    default 10 minutes last 0.6 s, and a machine stalled between a booking and its check-in closed it.
    A test of the window itself keeps the configured one (`checkin_as_configured`).
    """
    clock = Clock(speed=speed, start=start)
    config = config or load_config()
    if speed > 1.0 and not checkin_as_configured:
        config = config.model_copy(update={"checkin": config.checkin.model_copy(update={"late_minutes": 240})})
    rig = SimRig(clock, config)
    await rig.start()
    station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=0)
    try:
        await station.start()
        await enroll_staff(station.registry, clock.now())
        await calibrate_headphones(station.hardware.screenings, clock.now())
        crew = SimCrew(station.kiosk.entry_url, station.gp_link.attach, station.book,
                       station.config.station.site, rig)
        await crew.start()
        try:
            yield station, crew
        finally:
            await crew.stop()
    finally:
        await station.stop()
        await rig.stop()


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait, in real time, until `condition` holds; robust to a slow CI machine."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def camera() -> AsyncIterator[SimCamera]:
    """A started simulated otoscope camera at 30 frames per second."""
    cam = SimCamera(fps=30.0)
    await cam.start()
    try:
        yield cam
    finally:
        await cam.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A started state database in a fresh directory."""
    database = Database(tmp_path)
    await database.start()
    yield database
    await database.stop()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh state directory."""
    return tmp_path / "state"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that keeps every cookie it is given, 127.0.0.1's included (the hub's tests)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (tests/postgres.py); skips, or fails on CI, where it cannot start."""
    try:
        with postgres_server() as server:
            yield server
    except CannotStart as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One Redis server for the session, the fleet's broker (fleet/redis.py); skips, or fails on CI, where it
    cannot start."""
    try:
        with redis_server() as server:
            yield server
    except CannotStart as exc:
        skip_or_fail(str(exc), "Redis server")


@pytest.fixture(scope="session")
def coturn() -> Iterator[TurnServer]:
    """One coturn for the session, with a fresh shared secret for the hubs' `[ice]` (fleet/coturn.py); skips,
    or fails on CI, where it cannot start."""
    try:
        with coturn_server(secrets.token_urlsafe(24)) as server:
            yield server
    except CannotStart as exc:
        skip_or_fail(str(exc), "TURN server (coturn)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> URL:
    """An empty database for the hub's store, on each backend it supports: a SQLite file, or a fresh
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return URL.create("sqlite", database=str(tmp_path / "hub-state" / "hub.sqlite3"))
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
