"""Technician tools: `cabin decode` for captured payloads and `cabin diag` for every device."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from config.devices import DeviceConfig
from config.schema import CabinConfig
from drivers import cms50, gatt, rdm6300
from runtime.clock import Clock
from sim.rig import SimRig
from station.compose import Station

# The simulator's clock speed for `cabin diag --sim`, so that a cuff inflates in seconds.
SIM_DIAG_SPEED = 20.0


def decode(kind: str, hex_text: str) -> dict[str, Any]:
    """Decode a captured payload: a GATT characteristic (e.g. 2a35), `cms50` or `rdm6300`."""
    data = gatt.bytes_from_hex(hex_text)
    name = kind.strip().lower()
    if name == "cms50":
        framer = cms50.Framer()
        packets = framer.feed(data)
        samples = [_plain(cms50.RealtimeSample.parse(p)) for p in packets if p[0] == 0x01]
        return {"protocol": "cms50", "packets": len(packets), "skipped_bytes": framer.discarded,
                "incomplete_bytes": framer.pending, "realtime": samples}
    if name == "rdm6300":
        return {"protocol": "rdm6300", **_plain(rdm6300.BadgeRead.parse(data))}
    return gatt.decode_to_json(gatt.parse_uuid16(kind), data)


def _plain(record: object) -> dict[str, Any]:
    assert dataclasses.is_dataclass(record) and not isinstance(record, type)
    return dataclasses.asdict(record)


def _transport(config: DeviceConfig) -> str:
    if config.driver == "ble":
        return f"BLE {config.address or config.name or 'by service'}"
    if config.driver == "cms50":
        return f"serial {config.port or 'by USB identity'}"
    if config.driver == "uvc":
        return f"camera {config.port or 'by USB identity'}"
    return "in-process simulator"


async def diagnose(config: CabinConfig, *, sim: bool) -> list[dict[str, Any]]:
    """Start every device as the station would, self-test each, and report its health."""
    clock = Clock(speed=SIM_DIAG_SPEED) if sim else Clock()
    rig = SimRig(clock, config) if sim else None
    if rig is not None:
        await rig.start()
    try:
        with tempfile.TemporaryDirectory(prefix="cabin-diag-") as tmp:
            station = Station(config=config, clock=clock, state_dir=Path(tmp), rig=rig, kiosk_port=0)
            await station.start()
            try:
                return await _self_tests(station)
            finally:
                await station.stop()
    finally:
        if rig is not None:
            await rig.stop()


async def _self_tests(station: Station) -> list[dict[str, Any]]:
    devices = station.devices
    results = await asyncio.gather(*(devices.self_test(i.device_id) for i in devices.instruments))
    rows: list[dict[str, Any]] = []
    now = station.clock.monotonic()
    for instrument, health, test in zip(devices.instruments, devices.health(), results, strict=True):
        age = None if health.last_reading_host_time is None else round(now - health.last_reading_host_time, 1)
        rows.append({**health.to_json(), "driver": instrument.config.driver,
                     "transport": _transport(instrument.config), "required": not instrument.config.optional,
                     "last_reading_age_s": age, "self_test": test.to_json()})
    for accessory in (station.badge_reader, station.entry.lock if station.entry else None):
        if accessory is not None:
            rows.append({**accessory.health().to_json(), "driver": accessory.config.driver,
                         "transport": f"serial {accessory.config.port}", "required": False,
                         "self_test": {"ok": accessory.health().connected, "detail": "port open"}})
    return rows
