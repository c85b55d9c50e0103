"""The hub's login limits against bursts: attempts are counted before their password is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hub.auth import LoginLimiter
from hub.config import LoginSection
from hub.server import Hub
from runtime.clock import Clock
from tests.test_hub import PASSWORD, FakeTime, hub_config, login

BURST = 100


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def hub(fake_time: FakeTime, tmp_path: Path) -> AsyncIterator[Hub]:
    server = Hub(hub_config(), clock=Clock(source=fake_time), console_dir=tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=0)  # every login of a burst on its own connection, at once
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def test_a_burst_for_one_account_gets_the_limits_worth_of_checks_and_the_right_password_after_it_waits(
        hub: Hub, http: aiohttp.ClientSession, fake_time: FakeTime) -> None:
    guesses = [asyncio.create_task(login(http, hub, password=f"guess {i}")) for i in range(BURST)]
    for answer in asyncio.as_completed(guesses):
        if (await answer)[0] == 429:  # the account is at its limit while guesses are still being checked
            break
    right = await login(http, hub)
    statuses = [status for status, _ in await asyncio.gather(*guesses)]
    assert statuses.count(401) == 5  # max_failures: only these were checked
    assert statuses.count(429) == BURST - 5
    assert right[0] == 429 and right[1]["retry_after_s"] == 2  # LoginSection.delay_s after 5 failures
    fake_time.now += 2
    assert (await login(http, hub))[0] == 200


async def test_a_burst_with_the_right_password_among_it_checks_no_more_than_the_limit(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    passwords = [f"guess {i}" for i in range(BURST)]
    passwords[2] = PASSWORD
    answers = await asyncio.gather(*(login(http, hub, password=p) for p in passwords))
    statuses = [status for status, _ in answers]
    assert statuses.count(401) + statuses.count(200) <= 5
    assert statuses.count(429) >= BURST - 5
    assert all(body["error"] == "rate_limited" for status, body in answers if status == 429)


async def test_a_burst_from_one_address_gets_the_address_limits_worth_of_checks(
        fake_time: FakeTime, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    config = hub_config(login=LoginSection(max_failures=5, max_failures_per_address=20, window_s=300))
    server = Hub(config, clock=Clock(source=fake_time), console_dir=tmp_path)
    await server.start()
    try:
        answers = await asyncio.gather(*(login(http, server, username=f"user{i}", password="guess")
                                         for i in range(BURST)))
        statuses = [status for status, _ in answers]
        assert statuses.count(401) == 20 and statuses.count(429) == BURST - 20
        assert (await login(http, server, username="bob"))[0] == 429
    finally:
        await server.stop()


async def test_a_successful_login_gives_back_its_attempt_to_the_address(
        fake_time: FakeTime, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    config = hub_config(login=LoginSection(max_failures=5, max_failures_per_address=2, window_s=300))
    server = Hub(config, clock=Clock(source=fake_time), console_dir=tmp_path)
    await server.start()
    try:
        for name in ("claire", "bob", "dana"):  # three logins from one address, more than its 2 failures
            assert (await login(http, server, username=name))[0] == 200
        assert (await login(http, server, username="claire", password="guess"))[0] == 401
        assert (await login(http, server, username="bob"))[0] == 200
    finally:
        await server.stop()


def test_the_limiters_memory_cap_never_forgets_a_key_at_its_limit(fake_time: FakeTime) -> None:
    limiter = LoginLimiter(limit=5, window_s=300, now=fake_time, capacity=50)
    victim = "203.0.113.7"
    for _ in range(5):
        assert limiter.retry_after(victim) == 0
        limiter.count(victim)
    assert limiter.retry_after(victim) == 300
    for i in range(1000):  # many more distinct addresses than the cap holds, each one attempt
        other = f"guess{i}"
        assert limiter.retry_after(other) == 0
        limiter.count(other)
        fake_time.now += 0.1
    assert limiter.retry_after(victim) == pytest.approx(200)


def test_a_limiter_full_of_keys_at_their_limit_makes_new_keys_wait(fake_time: FakeTime) -> None:
    limiter = LoginLimiter(limit=1, window_s=300, now=fake_time, capacity=3)
    for name in ("a", "b", "c"):
        limiter.count(name)
        fake_time.now += 10
    assert limiter.retry_after("d") == 270  # until a falls below its limit
    fake_time.now += 270
    assert limiter.retry_after("d") == 0
    limiter.count("d")
    assert limiter.retry_after("b") > 0 and limiter.retry_after("c") > 0
