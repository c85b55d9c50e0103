"""A fleet under load: 300 cabins and 60 GPs on two hub instances sharing PostgreSQL and Redis behind HAProxy,
on loopback (docs/design.md, "A fleet of hubs").

Every daemon comes from Debian's packages (fleet/); the hubs are `cabin hub serve` processes; the cabins and GPs
are light clients of one WebSocket each (bench/fleet_clients.py), every cabin with a patient waiting.

(a) relay latency: each GP joins one cabin and sends `--pings` signals one after another, each timed until the
    cabin's echo is back: p50 and p99 over every GP, all at once. Reference: ONE hub alone (no broker) with
    the same cabins and GPs, in the same run. Measured: two instances, every GP on the instance its cabin is
    NOT on, so that each signal crosses the broker both ways. Target: p99 ratio <= 3.
(b) memory: the lone hub's resident memory with every cabin connected, against the same hub idle (its
    accounts imported, nothing connected); and the difference per cabin (target < 200 KiB).
(c) reconnection: every cabin dials the proxy while one instance (A) is up: all of them land there (the
    reference is the time until all are welcomed). A second instance (B) starts, a GP given every cabin
    watches B's waiting room; A is SIGKILLed. The figure is the time from the kill until every cabin is
    welcomed again and B's waiting room holds every waiting patient. Target: ratio <= 3.

    python -m bench.fleet [--stations 300] [--gps 60] [--pings 20] [--json]
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import aiohttp

from bench.common import Figure, measure_and_report, parser, progress, ratio
from bench.fleet_clients import LightGp, LightStation
from fleet.daemons import CannotStart
from fleet.haproxy import haproxy
from fleet.hubs import Accounts, HubInstance, free_ports, generate_accounts, hub_instance
from fleet.postgres import postgres_server
from fleet.redis import redis_server
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

NAME = "fleet"
WATCHER = "watcher"
LATENCY_TARGET, RSS_TARGET_KIB, RECONNECT_TARGET = 3.0, 200.0, 3.0
LOGINS_AT_ONCE = 8  # each login is an scrypt check on the hub


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`th percentile (nearest rank) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def until(condition: Callable[[], bool], what: Callable[[], str], within_s: float = 60.0) -> None:
    """Wait until `condition` holds, or RuntimeError saying `what()` (how far it got)."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what()}: not within {within_s:.0f} s")
        await asyncio.sleep(0.02)


class Load:
    """The light cabins and GPs of one phase, in one aiohttp session each kind (GPs: one each, for cookies)."""

    def __init__(self, accounts: Accounts, origin: str) -> None:
        self.accounts, self.origin = accounts, origin
        self.tasks = TaskSet("bench.fleet", log)
        self.stations: list[LightStation] = []
        self.gps: list[LightGp] = []
        self._sessions: list[aiohttp.ClientSession] = []

    def _session(self) -> aiohttp.ClientSession:
        # The hub's session cookie comes from 127.0.0.1: only an unsafe jar keeps a cookie of an IP address.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                        cookie_jar=aiohttp.CookieJar(unsafe=True))
        self._sessions.append(session)
        return session

    async def stations_to(self, base_for: Callable[[int], str]) -> float:
        """Every cabin dials `base_for(n)`: seconds until all are welcomed."""
        http = self._session()
        began = time.perf_counter()
        for n, (sid, token) in enumerate(self.accounts.tokens.items()):
            station = LightStation(http, base_for(n).replace("http", "ws", 1) + "/ws/station", sid, token, self.tasks)
            station.start()
            self.stations.append(station)
        await until(lambda: all(s.connected.is_set() for s in self.stations), lambda: (
            f"{sum(s.connected.is_set() for s in self.stations)} of {len(self.stations)} cabins connected"))
        return time.perf_counter() - began

    async def gp(self, username: str, base: str) -> LightGp:
        """One GP logged in at `base`, its socket open."""
        gp = LightGp(self._session(), base, self.origin, username, self.accounts.passwords[username])
        await gp.connect(self.tasks)
        self.gps.append(gp)
        return gp

    async def relay_times(self, base_for_gp: Callable[[int], str], pings: int) -> list[float]:
        """Every GP (but the watcher) logs in and joins its first cabin; once all have, they all ping theirs:
        every round trip, in seconds (no password is being checked meanwhile: only the relay is timed)."""
        names = [u for u in self.accounts.passwords if u != WATCHER]
        gate = asyncio.Semaphore(LOGINS_AT_ONCE)

        async def joined(n: int, username: str) -> tuple[LightGp, str]:
            async with gate:
                gp = await self.gp(username, base_for_gp(n))
            station = self.accounts.given[username][0]
            await gp.join(station, f"s-{station}")
            return gp, station

        gps = await asyncio.gather(*(joined(n, u) for n, u in enumerate(names)))
        rounds = await asyncio.gather(*(gp.ping(station, pings) for gp, station in gps))
        return [t for times in rounds for t in times]

    async def close(self) -> None:
        """Every client's socket closed."""
        await self.tasks.cancel_all()
        for gp in self.gps:
            await gp.close()
        for session in self._sessions:
            await session.close()


async def lone_hub(accounts: Accounts, origin: str, directory: Path, store: str, pings: int
                   ) -> tuple[list[float], int, int]:
    """One hub, no broker: (round trips, idle RSS, RSS with every cabin connected)."""
    with hub_instance("lone", directory, origin, store, None, accounts) as lone:
        idle = lone.rss_bytes()
        load = Load(accounts, origin)
        try:
            took = await load.stations_to(lambda n: lone.url)
            loaded = lone.rss_bytes()
            progress(f"one hub: {len(load.stations)} cabins connected in {took:.1f} s, GPs pinging")
            times = await load.relay_times(lambda n: lone.url, pings)
        finally:
            await load.close()
    return times, idle, loaded


async def two_hubs(accounts: Accounts, origin: str, a: HubInstance, b: HubInstance, pings: int) -> list[float]:
    """Cabins alternately on A and B, each GP on the instance its cabin is not on: the round trips."""
    load = Load(accounts, origin)
    index = {sid: n for n, sid in enumerate(accounts.tokens)}
    try:
        await load.stations_to(lambda n: (a, b)[n % 2].url)
        names = [u for u in accounts.passwords if u != WATCHER]
        other = {n: (b, a)[index[accounts.given[u][0]] % 2].url for n, u in enumerate(names)}
        return await load.relay_times(other.__getitem__, pings)
    finally:
        await load.close()


async def proxy_sends_to(proxy_url: str, instance: str) -> None:
    """Return once HAProxy sends a new connection to `instance` (least connections: the one without any, once
    its health checks have passed), as its `GET /api/health` says."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(600):
            async with http.get(f"{proxy_url}/api/health") as response:
                if response.status == 200 and (await response.json()).get("instance") == instance:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"HAProxy never sent a connection to hub instance {instance}")


async def reconnection(accounts: Accounts, proxy_url: str, a: HubInstance, start_b: Callable[[], HubInstance]
                       ) -> tuple[float, float]:
    """(seconds until every cabin is welcomed through the proxy on A alone, seconds from A's SIGKILL until every
    cabin is welcomed again and B's waiting room holds every patient)."""
    load = Load(accounts, proxy_url)
    try:
        first = await load.stations_to(lambda n: proxy_url)
        b = start_b()
        watcher = await load.gp(WATCHER, b.url)
        everyone = set(accounts.tokens)
        await until(lambda: watcher.room == everyone,
                    lambda: f"B's waiting room holding {len(watcher.room)} of the {len(everyone)} cabins on A")
        await proxy_sends_to(proxy_url, b.name)
        progress(f"two hubs: {len(everyone)} cabins on A, B's room holds them all; SIGKILL to A")
        began = time.perf_counter()
        a.kill()
        await until(lambda: all(s.welcomes >= 2 and s.connected.is_set() for s in load.stations)
                    and watcher.room == everyone, lambda: (
                        f"{sum(s.welcomes >= 2 and s.connected.is_set() for s in load.stations)} of {len(everyone)} "
                        f"cabins back, {len(watcher.room)} in B's waiting room"))
        return first, time.perf_counter() - began
    finally:
        await load.close()


async def measure(stations: int, gps: int, pings: int) -> list[Figure]:
    """Every figure, with the daemons started and stopped here."""
    progress(f"{stations} cabins, {gps} GPs, {pings} signals each; generating their accounts")
    accounts = generate_accounts(stations, gps, watcher=WATCHER)
    with ExitStack() as daemons:
        directory = Path(daemons.enter_context(tempfile.TemporaryDirectory(prefix="bench-fleet-")))
        postgres = daemons.enter_context(postgres_server())
        redis = daemons.enter_context(redis_server())
        port_a, port_b = free_ports(2)
        proxy = daemons.enter_context(haproxy([port_a, port_b]))
        database = postgres.new_database().render_as_string(hide_password=False)
        reference, idle, loaded = await lone_hub(accounts, proxy.url, directory, database, pings)

        def instance(name: str, port: int, broker: str = redis.url) -> HubInstance:
            return daemons.enter_context(hub_instance(name, directory, proxy.url, database, broker, accounts,
                                                      port=port))

        a, b = instance("a", port_a), instance("b", port_b)
        progress("two hubs: GPs pinging across the broker")
        across = await two_hubs(accounts, proxy.url, a, b, pings)
        b.process.terminate()
        b.process.wait()
        a.process.terminate()
        a.process.wait()
        # A fresh store and broker database: nothing of the instances above is left in them.
        database = postgres.new_database().render_as_string(hide_password=False)
        broker = redis.url.removesuffix("/0") + "/1"
        a = instance("a2", port_a, broker)
        first, back = await reconnection(accounts, proxy.url, a, lambda: instance("b2", port_b, broker))
    return figures(reference, across, idle, loaded, stations, first, back)


def figures(reference: list[float], across: list[float], idle: int, loaded: int, stations: int, first: float,
            back: float) -> list[Figure]:
    """The table: latencies in ms, memory in MiB and KiB, times in seconds."""
    ms = [(p, percentile(reference, p) * 1000, percentile(across, p) * 1000) for p in (50, 99)]
    per_station = (loaded - idle) / stations / 1024
    return [
        *(Figure(f"relay_p{p}_one_hub", one, "ms", None, None, "reference") for p, one, _ in ms),
        *(Figure(f"relay_p{p}_across_instances", two, "ms", one, ratio(two, one),
                 f"ratio <= {LATENCY_TARGET:g}" if p == 99 else "info") for p, one, two in ms),
        Figure("hub_rss_idle", idle / 2**20, "MiB", None, None, "reference"),
        Figure("hub_rss_with_cabins", loaded / 2**20, "MiB", idle / 2**20, ratio(loaded, idle), "info"),
        Figure("rss_per_cabin", per_station, "KiB", None, None, f"value < {RSS_TARGET_KIB:g} KiB"),
        Figure("first_connection_all", first, "s", None, None, "reference"),
        Figure("reconnection_all_after_sigkill", back, "s", first, ratio(back, first),
               f"ratio <= {RECONNECT_TARGET:g}"),
    ]


def main() -> int:
    """Run the benchmark; print its figures."""
    p = parser("300 cabins and 60 GPs on two hub instances behind HAProxy: relay latency, memory, reconnection")
    p.add_argument("--stations", type=int, default=300)
    p.add_argument("--gps", type=int, default=60)
    p.add_argument("--pings", type=int, default=20, help="signals each GP times")
    args = p.parse_args()
    return measure_and_report(NAME, lambda: asyncio.run(measure(args.stations, args.gps, args.pings)),
                              as_json=args.json, errors=(CannotStart, RuntimeError, OSError, TimeoutError))


if __name__ == "__main__":
    sys.exit(main())
