"""A fleet loses an instance (docs/design.md, "A fleet of hubs"): two `cabin hub serve` processes behind HAProxy,
sharing PostgreSQL and Redis; a GP in Chromium consults a simulated cabin, another cabin's patient waits, and
the instance holding the consulting cabin is SIGKILLed. The consultation goes on: the cabin never leaves it, the
video keeps flowing, and the GP comes back, on the surviving instance, to the same legs (only signalling moved);
the waiting patient is still listed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page
from pydantic import SecretStr

from bench.fleet_clients import LightStation
from config.loader import load_config
from config.schema import HubSection
from fleet.haproxy import haproxy
from fleet.hubs import Accounts, HubInstance, free_ports, hub_instance
from fleet.postgres import PostgresServer
from fleet.redis import RedisServer
from hub.config import SCRYPT_MIN_N, hash_password, token_digest
from protocol.states import CabinState
from runtime.tasks import TaskSet
from sim.patient import SimPatient
from sim.seed import DEMO_GP
from tests.browser import chromium, collect_errors
from tests.conftest import eventually, running_station
from tests.console import BROWSER_S, by_id, real_errors

GP, PASSWORD = "demo", "a demo password"
WAITING = "cab-waiting"


def accounts(station_id: str) -> Accounts:
    """The simulated cabin, a second cabin whose patient waits, and the demo GP given both."""
    tokens = {station_id: secrets.token_urlsafe(32), WAITING: secrets.token_urlsafe(32)}
    identity = "{ " + ", ".join(f"{key} = {json.dumps(value, ensure_ascii=False)}"
                                for key, value in DEMO_GP.model_dump(exclude_none=True).items()) + " }"
    toml = "".join(f'[[stations]]\nid = "{sid}"\nsite = "Cabine {n}"\ntoken_sha256 = "{token_digest(token)}"\n\n'
                   for n, (sid, token) in enumerate(tokens.items(), 1))
    toml += (f'[[gps]]\nusername = "{GP}"\npassword_hash = "{hash_password(PASSWORD, n=SCRYPT_MIN_N, p=1)}"\n'
             f'stations = {json.dumps(list(tokens))}\nidentity = {identity}\n')
    return Accounts(tokens, {GP: PASSWORD}, {GP: tuple(tokens)}, toml)


@asynccontextmanager
async def fleet(tmp_path: Path, postgres: PostgresServer, redis: RedisServer,
                fleet_accounts: Accounts) -> AsyncIterator[tuple[str, list[HubInstance]]]:
    """Two hub instances behind HAProxy: the proxy's URL, the instances."""
    store = postgres.new_database().render_as_string(hide_password=False)
    ports = free_ports(2)
    with haproxy(ports) as proxy:
        with hub_instance("hub-a", tmp_path, proxy.url, store, redis.url, fleet_accounts, port=ports[0]) as a, \
                hub_instance("hub-b", tmp_path, proxy.url, store, redis.url, fleet_accounts, port=ports[1]) as b:
            yield proxy.url, [a, b]


async def health(http: aiohttp.ClientSession, instance: HubInstance) -> dict[str, Any]:
    async with http.get(f"{instance.url}/api/health") as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def metrics(http: aiohttp.ClientSession, instance: HubInstance) -> str:
    """The instance's Prometheus metrics (this machine may scrape it: no token is set)."""
    async with http.get(f"{instance.url}/metrics") as response:
        return await response.text()


async def holding(http: aiohttp.ClientSession, instances: list[HubInstance]) -> HubInstance:
    """The instance the consulting cabin is connected to, while it is the only cabin connected."""
    (instance,) = [i for i in instances if (await health(http, i))["stations"] == 1]
    return instance


async def frames(page: Page) -> int:
    return int(await page.evaluate("() => Number(document.getElementById('face-video').dataset.frames)"))


async def test_killing_an_instance_keeps_the_consultation_and_the_waiting_room(
        tmp_path: Path, postgres: PostgresServer, redis: RedisServer) -> None:
    config = load_config()
    cabin = config.station.id
    made = accounts(cabin)
    async with AsyncExitStack() as stack:
        origin, instances = await stack.enter_async_context(fleet(tmp_path, postgres, redis, made))
        section = HubSection(url=origin.replace("http", "ws", 1) + "/ws/station", station_id=cabin,
                             token=SecretStr(made.tokens[cabin]))
        station, crew = await stack.enter_async_context(
            running_station(tmp_path / "state", config.model_copy(update={"hub": section}), speed=1.0))
        assert station.calls is not None
        async with asyncio.timeout(20):
            await station.calls.hub.wait_connected()
        http = await stack.enter_async_context(aiohttp.ClientSession())
        browser = await stack.enter_async_context(chromium())

        kiosk = await (await browser.new_context()).new_page()
        appointment = await crew.book()
        await kiosk.goto(station.kiosk.entry_url)
        await SimPatient(crew.kiosk, appointment.code).check_in()
        gp = await (await browser.new_context()).new_page()
        errors = collect_errors(gp)
        await gp.goto(origin)
        await gp.fill(by_id("login-username"), GP)
        await gp.fill(by_id("login-password"), PASSWORD)
        await gp.click(by_id("login-submit"))
        await gp.click(by_id("enrol-skip"), timeout=BROWSER_S)  # a fleet's store offers a second factor
        await gp.click(by_id("join-button"), timeout=BROWSER_S)
        await gp.wait_for_function("() => document.querySelector('[data-testid=consultation]').dataset.state "
                                   "=== 'active'", timeout=BROWSER_S)
        await gp.wait_for_function("() => Number(document.getElementById('face-video').dataset.frames) > 10",
                                   timeout=BROWSER_S)

        victim = await holding(http, instances)
        tasks = TaskSet("waiting cabin", logging.getLogger(__name__))
        stack.push_async_callback(tasks.cancel_all)
        LightStation(http, section.url, WAITING, made.tokens[WAITING], tasks).start()
        listed = f"[data-testid=waiting-list] [data-station='{WAITING}']"
        await gp.wait_for_selector(listed, timeout=BROWSER_S)

        media = station.calls.media
        (gp_before,) = media.gp_ids
        leg = media.leg(gp_before)
        seen: set[CabinState] = set()

        async def watch() -> None:
            while True:
                seen.add(station.cabin.state)
                await asyncio.sleep(0.02)

        tasks.spawn(watch(), "cabin states")
        victim.kill()

        # The station dials again through the proxy and lands on the survivor; its GP comes back to it there,
        # to the same legs: the consultation never stopped.
        hub = station.calls.hub
        await eventually(lambda: not hub.connected, within_s=10)
        async with asyncio.timeout(30):
            await hub.wait_connected()
        (survivor,) = [i for i in instances if i is not victim]
        async with asyncio.timeout(30):  # the survivor's own figure: its station has its GP back
            while "cabin_hub_stations_joined 1.0" not in await metrics(http, survivor):
                await asyncio.sleep(0.1)
        (gp_after,) = media.gp_ids  # her connection on the survivor: a new one, or the same if it was there
        assert media.leg(gp_after) is leg
        await gp.wait_for_function("() => document.querySelector('[data-testid=consultation]').dataset.state "
                                   "=== 'active'", timeout=BROWSER_S)
        before = await frames(gp)
        await gp.wait_for_function(f"() => Number(document.getElementById('face-video').dataset.frames) > {before + 10}",
                                   timeout=BROWSER_S)
        assert seen == {CabinState.IN_CONSULTATION}
        await gp.wait_for_selector(listed, timeout=BROWSER_S)  # nobody lost from the waiting room
        assert real_errors(errors) == []
