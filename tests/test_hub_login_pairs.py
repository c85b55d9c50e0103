"""Login limits a stranger cannot turn against a GP: delays per username and address, trusted proxies,
and one GP's logins never ending another's (docs/design.md, "Data and security")."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.auth import LoginDelays, client_address
from hub.config import LoginSection
from hub.server import Hub
from runtime.clock import Clock
from tests.test_hub import FakeTime, hub_config, login

PROXY = LoginSection(max_failures=5, max_failures_per_address=20, window_s=300, trusted_proxies=("127.0.0.1",))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


async def started(fake_time: FakeTime, tmp_path: Path, **changes: Any) -> Hub:
    server = Hub(hub_config(**changes), clock=Clock(source=fake_time), console_dir=tmp_path)
    await server.start()
    return server


@pytest.fixture
async def hub(fake_time: FakeTime, tmp_path: Path) -> AsyncIterator[Hub]:
    server = await started(fake_time, tmp_path)
    yield server
    await server.stop()


@pytest.fixture
async def proxied(fake_time: FakeTime, tmp_path: Path) -> AsyncIterator[Hub]:
    server = await started(fake_time, tmp_path, login=PROXY)
    yield server
    await server.stop()


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from `address` (any of 127.0.0.0/8 on Linux's loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_behind_a_listed_proxy_failures_from_one_client_do_not_stop_a_gp_at_another(
        proxied: Hub, http: aiohttp.ClientSession) -> None:
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    for i in range(20):
        assert (await login(http, proxied, username=f"user{i}", password="guess", **attacker))[0] == 401
    assert (await login(http, proxied, username="dana", **attacker))[0] == 429  # this client's limit
    gp = {"X-Forwarded-For": "198.51.100.7"}
    assert (await login(http, proxied, username="claire", **gp))[0] == 200


async def test_a_forwarded_address_is_the_right_most_one_not_a_proxy(
        proxied: Hub, http: aiohttp.ClientSession) -> None:
    for i in range(20):  # the client writes the left part: a different lie each time
        spoofed = {"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.9"}
        assert (await login(http, proxied, username=f"user{i}", password="guess", **spoofed))[0] == 401
    assert (await login(http, proxied, username="dana", **{"X-Forwarded-For": "192.0.2.99, 203.0.113.9"}))[0] == 429


async def test_x_forwarded_for_from_an_unlisted_peer_is_ignored(
        fake_time: FakeTime, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    elsewhere = LoginSection(max_failures=5, max_failures_per_address=20, window_s=300,
                             trusted_proxies=("10.0.0.0/8",))
    server = await started(fake_time, tmp_path, login=elsewhere)
    try:
        for i in range(20):
            forged = {"X-Forwarded-For": f"198.51.100.{i}"}
            assert (await login(http, server, username=f"user{i}", password="guess", **forged))[0] == 401
        status, body = await login(http, server, username="claire", **{"X-Forwarded-For": "198.51.100.200"})
        assert status == 429 and body["error"] == "rate_limited"  # 127.0.0.1 itself is at its limit
    finally:
        await server.stop()


async def test_after_an_attackers_wrong_passwords_the_gp_at_another_address_logs_in_at_once(hub: Hub) -> None:
    async with from_address("127.0.0.2") as attacker, from_address("127.0.0.3") as gp:
        for _ in range(10):
            assert (await login(attacker, hub, username="claire", password="guess"))[0] in (401, 429)
        assert (await login(attacker, hub, username="claire"))[0] == 429
        assert (await login(gp, hub, username="claire"))[0] == 200


async def test_repeated_failures_from_one_username_and_address_wait_longer_each_time(
        hub: Hub, http: aiohttp.ClientSession, fake_time: FakeTime) -> None:
    for _ in range(5):
        assert (await login(http, hub, password="guess"))[0] == 401
    waits = []
    for _ in range(4):
        status, body = await login(http, hub, password="guess")
        assert status == 429
        waits.append(body["retry_after_s"])
        fake_time.now += body["retry_after_s"]
        assert (await login(http, hub, password="guess"))[0] == 401
    assert waits == [2, 4, 8, 16]


async def test_a_thousand_logins_by_one_gp_do_not_end_another_gps_login(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob:
        assert (await login(bob, hub, username="bob"))[0] == 200
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as claire:
            for _ in range(200):  # five at a time: the logins of one username and address being checked at once
                answers = await asyncio.gather(*(login(claire, hub) for _ in range(5)))
                assert {status for status, _ in answers} == {200}
        async with bob.get(f"{hub.url}/api/me") as response:
            assert response.status == 200


def test_a_forwarded_address_is_read_only_from_a_trusted_proxy() -> None:
    proxies = (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8"))
    assert client_address("127.0.0.1", ["1.2.3.4, 10.0.0.5"], proxies) == "1.2.3.4"
    assert client_address("127.0.0.1", ["9.9.9.9", "1.2.3.4"], proxies) == "1.2.3.4"  # headers in order
    assert client_address("192.0.2.1", ["1.2.3.4"], proxies) == "192.0.2.1"
    assert client_address("127.0.0.1", [], proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", ["not an address"], proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", ["10.0.0.7"], proxies) == "10.0.0.7"  # proxies all the way: the first


def test_the_delays_memory_cap_never_forgets_a_key_still_waiting(fake_time: FakeTime) -> None:
    delays = LoginDelays(free=1, delay_s=60, max_delay_s=600, window_s=300, now=fake_time, capacity=10)
    delays.count("claire@192.0.2.1")
    assert delays.retry_after("claire@192.0.2.1") == 60
    for i in range(100):
        key = f"guess{i}@192.0.2.1"
        if delays.retry_after(key) == 0:
            delays.count(key)
    fake_time.now += 30
    assert delays.retry_after("claire@192.0.2.1") == 30
