"""`make fleet`: a whole fleet on this machine, for people to try it (docs/design.md, "A fleet on one machine").

From Debian's packages, each in a temporary directory on a free loopback port: PostgreSQL, Redis, HAProxy and
two hub instances sharing them (`cabin hub serve` processes), then simulated cabins (stations on the simulator,
in this process) dialling the hubs through the proxy. It prints the addresses and the demo logins, and runs
until Ctrl-C, then stops everything and removes every file it made.

    python -m fleet.local [--cabins 3] [--instances 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from pydantic import SecretStr

from config.loader import load_config
from config.schema import HubSection
from fleet.daemons import CannotStart
from fleet.haproxy import haproxy
from fleet.hubs import Accounts, free_ports, generate_accounts, hub_instance
from fleet.postgres import postgres_server
from fleet.redis import redis_server
from hub.config import SCRYPT_MIN_N, hash_password, new_station_token
from runtime.clock import Clock
from runtime.errors import StationError
from sim.rig import SimRig
from station.compose import Station

GPS = 2
TECHNICIAN = "technician"
CONNECT_TIMEOUT_S = 60.0


def with_technician(accounts: Accounts) -> Accounts:
    """The accounts and a technician's login, for the fleet page."""
    password = new_station_token()[0][:20]
    entry = (f'\n[[coordinators]]\nusername = "{TECHNICIAN}"\nname = "Fleet technician"\nrole = "technician"\n'
             f'password_hash = "{hash_password(password, n=SCRYPT_MIN_N, p=1)}"\n')
    return dataclasses.replace(accounts, passwords={**accounts.passwords, TECHNICIAN: password},
                               toml=accounts.toml + entry)


@asynccontextmanager
async def cabin(station_id: str, token: str, station_url: str, state_dir: Path) -> AsyncIterator[Station]:
    """A station on the simulator, in real time, dialling the hubs at `station_url`; connected when yielded."""
    clock = Clock()
    config = load_config()
    config = config.model_copy(update={
        "station": config.station.model_copy(update={"id": station_id}),
        "hub": HubSection(url=station_url, station_id=station_id, token=SecretStr(token)),
    })
    rig = SimRig(clock, config)
    await rig.start()
    station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=0)
    try:
        await station.start()
        assert station.calls is not None  # the configuration has a [hub]
        try:
            await asyncio.wait_for(station.calls.hub.wait_connected(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise CannotStart(f"cabin {station_id} did not connect to the hubs at {station_url} within "
                              f"{CONNECT_TIMEOUT_S:.0f} s") from None
        yield station
    finally:
        await station.stop()
        await rig.stop()


async def run_fleet(cabins: int, instances: int, stop: asyncio.Event, say: Callable[[str], None]) -> int:
    """Start the fleet, say where it is, wait for `stop`, stop everything."""
    say(f"starting PostgreSQL, Redis, HAProxy, {instances} hub instances and {cabins} simulated cabins...")
    accounts = with_technician(generate_accounts(cabins, GPS))
    async with AsyncExitStack() as fleet:
        directory = Path(fleet.enter_context(tempfile.TemporaryDirectory(prefix="cabin-fleet-")))
        postgres = fleet.enter_context(postgres_server())
        redis = fleet.enter_context(redis_server())
        ports = free_ports(instances)
        proxy = fleet.enter_context(haproxy(ports))
        store = postgres.new_database().render_as_string(hide_password=False)
        hubs = [fleet.enter_context(hub_instance(f"hub{n}", directory, proxy.url, store, redis.url, accounts,
                                                 port=port)) for n, port in enumerate(ports, 1)]
        station_url = proxy.url.replace("http", "ws", 1) + "/ws/station"
        for n, (sid, token) in enumerate(accounts.tokens.items()):
            await fleet.enter_async_context(cabin(sid, token, station_url, directory / f"cabin-{n}"))
        say(f"PostgreSQL: {store}   Redis: {redis.url}")
        for hub in hubs:
            say(f"hub instance {hub.name}: {hub.url} (pid {hub.process.pid}, log {hub.log})")
        say(f"proxy (HAProxy): {proxy.url}")
        say(f"GP console: {proxy.url}/   logins: "
            + ", ".join(f"{u} / {p}" for u, p in accounts.passwords.items() if u != TECHNICIAN))
        say(f"fleet page: {proxy.url}/fleet   login {TECHNICIAN} / {accounts.passwords[TECHNICIAN]}")
        say(f"Prometheus metrics: {proxy.url}/metrics")
        say(f"fleet ready: {cabins} cabins connected through the proxy; Ctrl-C stops it")
        await stop.wait()
        say("stopping the fleet...")
    say("fleet stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a local fleet until Ctrl-C (or SIGTERM)."""
    p = argparse.ArgumentParser(description="a fleet of hubs and simulated cabins on this machine, until Ctrl-C")
    p.add_argument("--cabins", type=int, default=3, help="simulated cabins (default 3)")
    p.add_argument("--instances", type=int, default=2, help="hub instances behind the proxy (default 2)")
    args = p.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    async def until_signal() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_fleet(args.cabins, args.instances, stop, say)

    try:
        return asyncio.run(until_signal())
    except (CannotStart, StationError) as exc:
        print(f"make fleet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
