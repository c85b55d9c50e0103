"""A vehicle's hub for the secretary's desk tests: the Cher's mobile unit (tests/booking.py's `mobile_config`)
with `[vehicle]` on board its station, the secretary "sophie" and the coordinator "anne"."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
from sqlalchemy.engine import URL

from hub.config import (
    SCRYPT_MIN_N,
    CoordinatorAccount,
    HubConfig,
    ListenSection,
    StoreSection,
    VehicleSection,
    hash_password,
)
from hub.server import Hub
from tests.booking import MOBILE, MONDAY, VEHICLE_STATION, Wall, at, mobile_config
from tests.test_hub_desk import call

PASSWORDS = {"sophie": "front desk", "anne": "phone line", "claire.martin": "secret", "paul.roux": "secret"}
VEHICLE_TOKEN = "vehicle-token"


def vehicle_config(url: URL | None = None) -> HubConfig:
    """The vehicle's hub of the Cher's mobile unit, with its secretary and a coordinator."""
    def account(username: str, name: str, **role: str) -> CoordinatorAccount:
        return CoordinatorAccount(username=username, name=name, **role,  # type: ignore[arg-type]
                                  password_hash=hash_password(PASSWORDS[username], n=SCRYPT_MIN_N, p=1))
    return mobile_config(
        hub=ListenSection(port=0),
        store=StoreSection(url=url.render_as_string(hide_password=False)) if url is not None else StoreSection(),
        vehicle=VehicleSection(id="cher-1", site_code=MOBILE.code, station=VEHICLE_STATION),
        coordinators=(account("sophie", "Sophie Secrétaire", role="secretary", site_code=MOBILE.code),
                      account("anne", "Anne Coordinatrice")))


@asynccontextmanager
async def vehicle_hub(url: URL | None = None) -> AsyncIterator[Hub]:
    """A running vehicle's hub; claire.martin on duty in the vehicle on Monday 09:00-12:00."""
    hub = Hub(vehicle_config(url), wall=Wall())
    await hub.start()
    try:
        await hub.book.publish_session("claire.martin", [VEHICLE_STATION], at(MONDAY, "09:00"),
                                       at(MONDAY, "09:00") + timedelta(hours=3), actor="test")
        yield hub
    finally:
        await hub.stop()


async def log_in(http: aiohttp.ClientSession, hub: Hub, username: str) -> None:
    status, body = await call(http, hub, "POST", "/api/login", {"username": username, "password": PASSWORDS[username]})
    assert status == 200, body


def cabin(state: str, visit: str | None = None, session: str | None = None) -> str:
    """A station's `cabin` status on board."""
    return json.dumps({"v": 1, "type": "cabin", "site": "Cher", "state": state, "session": session, "visit": visit,
                       "since": "2026-12-07T09:10:00+01:00" if session else None})
