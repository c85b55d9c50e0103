"""Two hubs that synchronise, for the synchronisation tests (docs/design.md, "A day without network"): the
department's, and the vehicle's whose link to it goes through a TCP proxy the test cuts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from hub.config import (
    SCRYPT_MIN_N,
    CoordinatorAccount,
    HubConfig,
    ListenSection,
    StoreSection,
    UpstreamSection,
    VehicleAccount,
    VehicleSection,
    hash_password,
    token_digest,
)
from hub.server import Hub
from hub.store.models import AuditEntry, Booking, SyncPeer
from tests.booking import VEHICLE_STATION, Wall, mobile_config
from tests.proxy import CuttableLink

VEHICLE = "vehicle-cher"
SYNC_TOKEN = "vehicle-cher-sync-token-0123456789"
PASSWORD = "phone line"


def people(username: str, secretary: bool) -> CoordinatorAccount:
    return CoordinatorAccount(username=username, name=username.title(), role="secretary" if secretary else "coordinator",
                              site_code="CHR180" if secretary else None,
                              password_hash=hash_password(PASSWORD, n=SCRYPT_MIN_N, p=1))


def department_config(url: URL) -> HubConfig:
    return mobile_config(hub=ListenSection(port=0), store=StoreSection(url=url.render_as_string(hide_password=False)),
                         vehicles=(VehicleAccount(id=VEHICLE, site_code="CHR180",
                                                  token_sha256=token_digest(SYNC_TOKEN)),),
                         coordinators=(people("anne", secretary=False),))


def vehicle_config(state: Path, upstream_port: int) -> HubConfig:
    upstream = UpstreamSection(url=f"http://127.0.0.1:{upstream_port}", token=SecretStr(SYNC_TOKEN), interval_s=3600,
                               timeout_s=10)
    return mobile_config(hub=ListenSection(port=0), store=StoreSection(url=f"sqlite:///{state / 'vehicle.sqlite3'}"),
                         vehicle=VehicleSection(id=VEHICLE, site_code="CHR180", station=VEHICLE_STATION,
                                                upstream=upstream),
                         coordinators=(people("sophie", secretary=True),))


@asynccontextmanager
async def two_hubs(store_url: URL, tmp_path: Path, wall: Wall) -> AsyncIterator[tuple[Hub, Hub, CuttableLink]]:
    """The department's hub on `store_url`, the vehicle's on SQLite, the vehicle's link through the proxy."""
    department = Hub(department_config(store_url), wall=wall)
    await department.start()
    link = CuttableLink("127.0.0.1", department.port)
    await link.start()
    vehicle = Hub(vehicle_config(tmp_path, link.port), wall=wall)
    try:
        await vehicle.start()
        try:
            yield department, vehicle, link
        finally:
            await vehicle.stop()
    finally:
        await link.stop()
        await department.stop()


async def bookings(hub: Hub) -> set[tuple[str, str, str, str, str]]:
    rows = await hub.book._store.run(lambda s: list(s.scalars(select(Booking))))
    return {(r.id, r.status, r.station_id, r.slot_start.isoformat(), r.channel) for r in rows}


async def cursors(hub: Hub, peer: str) -> tuple[int, int]:
    row = await hub.book._store.run(lambda s: s.get(SyncPeer, peer))
    assert row is not None
    return row.sent, row.received


async def count(hub: Hub, *where: Any, of: Any = AuditEntry) -> int:
    return await hub.book._store.run(lambda s: s.scalar(select(func.count()).select_from(of).where(*where)) or 0)
