"""What `cabin diag` reports about each device: its health, its transport and a self-test.

The same report comes from diag's own hardware (no station running) and from a running
station, asked over its local control channel (`station/local_control.py`), so both print alike.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from devices.vision import chart_geometry

if TYPE_CHECKING:
    from config.devices import DeviceConfig, LocatedDevice
    from station.hardware import Hardware


async def device_report(hardware: Hardware, *, skip_tests: str | None = None) -> list[dict[str, Any]]:
    """One row per instrument, then the badge reader and the entry lock; `skip_tests` says why none is tested."""
    devices = hardware.devices
    if skip_tests is None:
        done = await asyncio.gather(*(devices.self_test(i.device_id) for i in devices.instruments))
        tests = [test.to_json() for test in done]
    else:
        tests = [{"ok": None, "detail": skip_tests} for _ in devices.instruments]
    now = hardware.clock.monotonic()
    found = hardware.watcher.present()
    rows: list[dict[str, Any]] = []
    for instrument, health, test in zip(devices.instruments, devices.health(), tests, strict=True):
        age = None if health.last_reading_host_time is None else round(now - health.last_reading_host_time, 1)
        rows.append({**health.to_json(), "driver": instrument.config.driver,
                     "transport": _transport(instrument.config, found.get(instrument.device_id)),
                     "required": not instrument.config.optional, "last_reading_age_s": age, "self_test": test})
    for accessory in (hardware.badge_reader, hardware.entry_lock):
        if accessory is not None:
            health = accessory.health()
            where = _where(accessory.config, found.get(health.device_id))
            detail = "port open" if health.connected else health.last_error or f"port {where} not open"
            rows.append({**health.to_json(), "driver": accessory.config.driver, "transport": f"serial {where}",
                         "required": True, "self_test": {"ok": health.connected, "detail": detail}})
    return rows


def failed(rows: list[dict[str, Any]]) -> bool:
    """Whether a required device failed: its self-test, or its connection when the test was skipped.

    Every configured device is required (an accessory is configured unless its driver is "none"),
    but an instrument marked `optional`.
    """
    return any(row["required"] and (row["self_test"]["ok"] is False
                                    or (row["self_test"]["ok"] is None and not row["connected"]))
               for row in rows)


def _transport(config: DeviceConfig, found: str | None) -> str:
    if config.driver == "ble":
        return f"BLE {config.address or config.name or 'by service'}"
    if config.driver in ("cms50", "stadiometer_serial"):
        return f"serial {_where(config, found)}"
    if config.driver == "uvc":
        return f"camera {_where(config, found)}"
    if config.driver == "kiosk" and config.kind == "vision_chart":
        return f"kiosk screen, {chart_geometry(config).describe()}"
    if config.driver == "kiosk":
        return "kiosk screen" + (" and headphones" if config.kind == "audiometer" else "")
    if config.driver == "alsa":
        return f"ALSA {_where(config, found)}"
    return "in-process simulator"


def _where(config: LocatedDevice, found: str | None) -> str:
    """The configured port; for a device named by USB identity, where the watcher sees it now."""
    if config.port is not None:
        return config.port
    return f"by USB identity, {f'at {found}' if found else 'not plugged in'}"
