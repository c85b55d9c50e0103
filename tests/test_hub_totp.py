"""A GP's second factor: TOTP enrolment on the console, codes taken once, recovery codes, and a hub
that requires it (docs/design.md, "Data and security"). Codes are computed by pyotp, as a GP's app would."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from pydantic import ValidationError

from hub.cli import reset_totp
from hub.config import HubConfig, LoginSection
from hub.server import Hub
from runtime.clock import Clock
from runtime.errors import StationError
from tests.test_hub import FakeTime, hub_config, login


class Wall:
    """Unix time the test moves by hand: the hub's TOTP clock and the app's."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


def totp_login(tmp_path: Path, *, required: bool) -> LoginSection:
    return LoginSection(max_failures=5, max_failures_per_address=20, window_s=300,
                        state_dir=tmp_path / "hub-state", require_totp=required)


async def started(tmp_path: Path, wall: Wall, *, required: bool, clock: FakeTime | None = None) -> Hub:
    server = Hub(hub_config(login=totp_login(tmp_path, required=required)), clock=Clock(source=clock or FakeTime()),
                 console_dir=tmp_path, wall=wall)
    await server.start()
    return server


@pytest.fixture
async def hub(tmp_path: Path, wall: Wall) -> AsyncIterator[Hub]:
    server = await started(tmp_path, wall, required=False)
    yield server
    await server.stop()


@pytest.fixture
async def strict_hub(tmp_path: Path, wall: Wall) -> AsyncIterator[Hub]:
    server = await started(tmp_path, wall, required=True)
    yield server
    await server.stop()


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def post(http: aiohttp.ClientSession, hub: Hub, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{hub.url}{path}", json=body, headers={"Origin": hub.origin}) as response:
        return response.status, await response.json()


async def me(http: aiohttp.ClientSession, hub: Hub) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{hub.url}/api/me") as response:
        return response.status, await response.json()


async def enrol(http: aiohttp.ClientSession, hub: Hub, wall: Wall) -> tuple[pyotp.TOTP, list[str]]:
    """Log claire in and set up her second factor as her app would: its TOTP and her recovery codes."""
    status, answer = await login(http, hub)
    assert status == 200 and answer["next"] == "enrol"
    status, offer = await post(http, hub, "/api/totp/enrol", {})
    assert status == 200
    app = pyotp.parse_uri(offer["uri"])
    assert isinstance(app, pyotp.TOTP) and offer["secret"].replace(" ", "") == app.secret
    status, confirmed = await post(http, hub, "/api/totp/confirm", {"code": app.at(wall.now)})
    assert status == 200
    return app, confirmed["recovery_codes"]


async def test_a_gp_enrols_then_logs_in_with_her_apps_code(hub: Hub, wall: Wall, tmp_path: Path) -> None:
    async with session() as http:
        status, answer = await login(http, hub)
        assert status == 200 and answer == {"name": "Dr Claire Martin", "next": "enrol", "totp_required": False}
        status, offer = await post(http, hub, "/api/totp/enrol", {})
        assert status == 200 and offer["uri"].startswith("otpauth://totp/127.0.0.1:claire?secret=")
        assert base64.b64decode(offer["qr"].removeprefix("data:image/svg+xml;base64,")).startswith(b"<?xml")
        app = pyotp.parse_uri(offer["uri"])
        wrong = str((int(app.at(wall.now)) + 1) % 1_000_000).zfill(6)
        assert (await post(http, hub, "/api/totp/confirm", {"code": wrong}))[0] == 401
        status, confirmed = await post(http, hub, "/api/totp/confirm", {"code": app.at(wall.now)})
        assert status == 200 and len(set(confirmed["recovery_codes"])) == 10
        assert (await me(http, hub))[0] == 200
    kept = sqlite3.connect(next((tmp_path / "hub-state").glob("*.sqlite3")))
    stored = "\n".join(str(row) for table in ("totp", "recovery_codes") for row in kept.execute(f"SELECT * FROM {table}"))
    kept.close()
    assert not any(code.replace("-", "") in stored.replace("-", "") for code in confirmed["recovery_codes"])
    assert (tmp_path / "hub-state").stat().st_mode & 0o077 == 0

    wall.now += 30
    async with session() as http:
        status, answer = await login(http, hub)
        assert status == 200 and answer["next"] == "code"
        status, refused = await me(http, hub)
        assert status == 401 and refused["error"] == "second_factor"
        assert (await post(http, hub, "/api/totp/verify", {"code": app.at(wall.now)}))[0] == 200
        ws = await http.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
        await ws.close()


async def test_a_wrong_code_is_refused_and_counts_in_the_login_limits(hub: Hub, wall: Wall) -> None:
    async with session() as http:
        app, _ = await enrol(http, hub, wall)
    wall.now += 30
    async with session() as http:
        assert (await login(http, hub))[0] == 200
        wrong = str((int(app.at(wall.now)) + 1) % 1_000_000).zfill(6)
        for _ in range(5):
            status, body = await post(http, hub, "/api/totp/verify", {"code": wrong})
            assert status == 401 and body["error"] == "bad_code"
        status, body = await post(http, hub, "/api/totp/verify", {"code": app.at(wall.now)})
        assert status == 429 and body["retry_after_s"] == 2
        assert (await me(http, hub))[0] == 401


async def test_a_code_is_taken_once(hub: Hub, wall: Wall) -> None:
    async with session() as http:
        app, _ = await enrol(http, hub, wall)
    async with session() as http:  # the enrolment's own code, within its 30 s
        assert (await login(http, hub))[0] == 200
        assert (await post(http, hub, "/api/totp/verify", {"code": app.at(wall.now)}))[0] == 401
    wall.now += 30
    code = app.at(wall.now)
    async with session() as http:
        assert (await login(http, hub))[0] == 200
        assert (await post(http, hub, "/api/totp/verify", {"code": code}))[0] == 200
    wall.now += 10
    async with session() as http:  # replayed by someone who saw it
        assert (await login(http, hub))[0] == 200
        status, body = await post(http, hub, "/api/totp/verify", {"code": code})
        assert status == 401 and body["error"] == "bad_code"
        assert (await me(http, hub))[0] == 401


async def test_a_recovery_code_works_once(hub: Hub, wall: Wall) -> None:
    async with session() as http:
        _, codes = await enrol(http, hub, wall)
    async with session() as http:
        assert (await login(http, hub))[0] == 200
        assert (await post(http, hub, "/api/totp/verify", {"code": codes[3].lower()}))[0] == 200
        assert (await me(http, hub))[0] == 200
    async with session() as http:
        assert (await login(http, hub))[0] == 200
        assert (await post(http, hub, "/api/totp/verify", {"code": codes[3]}))[0] == 401
        assert (await post(http, hub, "/api/totp/verify", {"code": codes[4]}))[0] == 200


async def test_with_totp_required_a_password_alone_opens_no_gp_socket(strict_hub: Hub, wall: Wall) -> None:
    async with session() as http:
        status, answer = await login(http, strict_hub)
        assert status == 200 and answer["next"] == "enrol" and answer["totp_required"] is True
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{strict_hub.url}/ws/gp", origin=strict_hub.origin)
        assert refused.value.status == 401
        assert (await me(http, strict_hub))[0] == 401
        assert (await post(http, strict_hub, "/api/totp/enrol", {}))[0] == 200  # enrolling is all it may do
    async with session() as http:
        await enrol(http, strict_hub, wall)
        ws = await http.ws_connect(f"{strict_hub.url}/ws/gp", origin=strict_hub.origin)
        await ws.close()


async def test_a_login_waiting_for_its_second_factor_lasts_ten_minutes(tmp_path: Path, wall: Wall) -> None:
    clock = FakeTime()
    server = await started(tmp_path, wall, required=True, clock=clock)
    try:
        async with session() as http:
            assert (await login(http, server))[0] == 200
            clock.now += 600
            status, body = await post(http, server, "/api/totp/enrol", {})
            assert status == 401 and body["error"] == "unauthorized"
        async with session() as http:
            await enrol(http, server, wall)
            clock.now += 3600  # a whole login, once verified
            assert (await me(http, server))[0] == 200
    finally:
        await server.stop()


async def test_without_a_state_directory_the_console_goes_straight_in(tmp_path: Path) -> None:
    server = Hub(hub_config(), console_dir=tmp_path)
    await server.start()
    try:
        async with session() as http:
            status, answer = await login(http, server)
            assert status == 200 and answer["next"] == "console"
            assert (await post(http, server, "/api/totp/enrol", {}))[0] == 404
    finally:
        await server.stop()


def test_requiring_totp_needs_a_state_directory() -> None:
    with pytest.raises(ValidationError, match="require_totp needs state_dir"):
        HubConfig(login=LoginSection(require_totp=True))


async def test_a_reset_second_factor_is_set_up_again_at_the_next_login(hub: Hub, wall: Wall) -> None:
    """`cabin hub reset-totp`, for a GP who lost her phone and her recovery codes."""
    async with session() as http:
        _, codes = await enrol(http, hub, wall)
    assert await reset_totp(hub.config, "claire")
    assert not await reset_totp(hub.config, "claire")  # nothing left to remove
    async with session() as http:
        status, answer = await login(http, hub)
        assert status == 200 and answer["next"] == "enrol"
        assert (await post(http, hub, "/api/totp/verify", {"code": codes[0]}))[0] == 401  # her old codes are void
    with pytest.raises(StationError, match="no enabled GP or staff account 'nobody'"):
        await reset_totp(hub.config, "nobody")
