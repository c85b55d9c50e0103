"""The audiometer's calibration: kept in the station's database (schema step 5), audited, and what it allows."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from config.devices import KioskScreeningConfig
from devices.audio_calibration import (
    AUDIT_EVENT,
    REFERENCE_DBFS,
    AudioCalibrations,
    CalibrationError,
    StoredCalibrations,
)
from devices.audiometer import Audiometer
from devices.audiometry import EARS, FREQUENCIES_HZ
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Audiogram
from devices.validation import validate
from hygiene.audit import AuditTrail
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.storage import DB_NAME, Database
from sim.badges import TECHNICIAN_BADGE
from tests.conftest import eventually, running_station
from tests.kiosk import key_header

CONFIG = KioskScreeningConfig(id="audiometer-1", kind="audiometer", driver="kiosk")
AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
BADGE = "b" * 64
METER_DB_SPL = 90.0  # what the meter reads of the -20 dBFS reference tone


async def station_parts(state_dir: Path) -> tuple[Database, AuditTrail, DeviceManager, Audiometer]:
    db = Database(state_dir)
    await db.start()
    audit = AuditTrail(db)
    await audit.start()
    clock = Clock()
    calibrations = AudioCalibrations(db, audit)
    manager = DeviceManager.from_configs([CONFIG], clock, lambda c, sink: Audiometer(CONFIG, sink, clock, calibrations))
    audiometer = manager.instruments[0]
    assert isinstance(audiometer, Audiometer)
    await manager.start()
    return db, audit, manager, audiometer


async def stop(db: Database, audit: AuditTrail, manager: DeviceManager) -> None:
    await manager.stop()
    await audit.stop()
    await db.stop()


async def calibrate_all(audiometer: Audiometer) -> None:
    for ear in EARS:
        for hz in FREQUENCIES_HZ:
            await audiometer.calibrate(ear, hz, METER_DB_SPL, BADGE, AT)


async def test_an_uncalibrated_audiometer_is_unavailable_to_the_gp(state_dir: Path) -> None:
    db, audit, manager, audiometer = await station_parts(state_dir)
    try:
        health = audiometer.health()
        assert not health.connected and health.last_error == "not calibrated (8 of 8 points missing)"
        with pytest.raises(DeviceUnavailable, match="not calibrated"):
            await manager.request("hearing")
        assert (await manager.self_test(CONFIG.id)).to_json() == {"ok": False, "detail": "not calibrated"}
    finally:
        await stop(db, audit, manager)


async def test_a_calibration_survives_a_restart_with_who_and_when_in_the_audit_trail(state_dir: Path) -> None:
    db, audit, manager, audiometer = await station_parts(state_dir)
    try:
        await calibrate_all(audiometer)
        await audiometer.calibrate("right", 1000, 91.5, BADGE, AT)  # measured again: replaces the first
        entries = await audit.latest("audio_calibrated", 20)
        assert len(entries) == 9
        assert json.loads(entries[0].detail) == {"by": BADGE, "db_spl": 91.5, "device": CONFIG.id, "ear": "right",
                                                 "hz": 1000, "reference_dbfs": REFERENCE_DBFS}
        assert (await audit.verify()).ok
    finally:
        await stop(db, audit, manager)
    with sqlite3.connect(state_dir / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 5
        assert conn.execute("SELECT count(*) FROM audio_calibration").fetchone()[0] == 8
    db, audit, manager, audiometer = await station_parts(state_dir)
    try:
        assert audiometer.health().connected
        assert (await manager.self_test(CONFIG.id)).to_json() == {"ok": True,
                                                                  "detail": "calibrated on 2026-12-05T09:30:00+00:00"}
        recorded = audiometer.calibration()["points"]
        assert isinstance(recorded, list)
        points = {(p["ear"], p["hz"]): p for p in recorded}
        # TDH-39 at 1 kHz: RETSPL 7.0 dB SPL (ISO 389-1); 0 dBFS gives 91.5 + 20 - 7.0 = 104.5 dB HL.
        assert points[("right", 1000)]["db_spl"] == 91.5 and points[("right", 1000)]["max_db_hl"] == 100
    finally:
        await stop(db, audit, manager)


async def test_a_screening_plays_calibrated_levels_and_ends_with_an_audiogram(state_dir: Path) -> None:
    db, audit, manager, audiometer = await station_parts(state_dir)
    readings = manager.subscribe()
    try:
        await calibrate_all(audiometer)
        await manager.request("hearing")
        while (run := audiometer.current()) is not None:
            step = run["step"]
            assert isinstance(step, dict) and set(step) == {"ear", "hz", "dbfs", "duration_ms", "pause_ms"}
            dbfs = step["dbfs"]
            # Hears 25 dB HL and above: at 1 kHz, 25 dB HL is -20 + (25 + 7.0 - 90) = -78 dBFS.
            heard = dbfs is not None and dbfs >= REFERENCE_DBFS + 25 + {500: 11.5, 1000: 7.0, 2000: 9.0,
                                                                        4000: 9.5}[step["hz"]] - METER_DB_SPL
            audiometer.answer(str(run["run"]), {"heard": heard})
        reading = await readings.get()
        assert isinstance(reading, Audiogram) and validate(reading) is None and reading.reliable
        assert {p.threshold_db_hl for p in reading.thresholds} == {25}
        assert {p.max_db_hl for p in reading.thresholds} == {80}  # the safety cap, below the headphones' reach
        data = reading.to_json()
        assert data["screening"] is True and data["kind"] == "hearing" and data["catch_trials"] == 8
    finally:
        await stop(db, audit, manager)


def files_of(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


async def test_diag_alone_reads_the_calibration_and_writes_nothing(state_dir: Path, tmp_path: Path) -> None:
    assert await StoredCalibrations(tmp_path / "none").load(CONFIG.id) == {}
    db, audit, manager, audiometer = await station_parts(state_dir)
    try:
        await calibrate_all(audiometer)
    finally:
        await stop(db, audit, manager)
    before = await asyncio.to_thread(files_of, state_dir)
    clock = Clock()
    alone = Audiometer(CONFIG, lambda m: None, clock, StoredCalibrations(state_dir))
    await alone.start()
    assert alone.health().connected and alone.describe() == "calibrated on 2026-12-05T09:30:00+00:00"
    await alone.stop()
    assert await asyncio.to_thread(files_of, state_dir) == before


@pytest.mark.parametrize(("ear", "hz", "db_spl"), [("middle", 1000, 90.0), ("left", 3000, 90.0),
                                                   ("left", 1000, 12.0), ("left", 1000, float("nan"))])
async def test_a_point_that_makes_no_sense_is_refused_and_kept_nowhere(
        state_dir: Path, ear: str, hz: int, db_spl: float) -> None:
    db, audit, manager, audiometer = await station_parts(state_dir)
    try:
        with pytest.raises(CalibrationError):
            await audiometer.calibrate(ear, hz, db_spl, BADGE, AT)
        assert await audit.latest("audio_calibrated", 1) == [] and audiometer.calibration()["points"] == []
    finally:
        await stop(db, audit, manager)


CALIBRATION = "/api/maintenance/calibration"
BAD_BODIES = [
    b'{"device": "audiometer-1", "ear": "right", "hz": 1000}',
    b'{"device": "audiometer-1", "ear": "right", "hz": "1000", "db_spl": 90}',
    b'{"device": "audiometer-1", "ear": "right", "hz": 1000, "db_spl": true}',
    b'{"device": "scale-1", "ear": "right", "hz": 1000, "db_spl": 90}',
]


async def test_the_calibration_api_refuses_bad_bodies_and_anyone_but_a_technician(tmp_path: Path) -> None:
    async with running_station(tmp_path / "state", speed=1.0) as (station, _crew):
        entries = len(await station.audit.latest(AUDIT_EVENT, 100))
        async with aiohttp.ClientSession(station.kiosk.url, headers=key_header(station)) as http:
            for body in BAD_BODIES:  # a body that makes no point is a 400, whatever the state
                async with http.post(CALIBRATION, data=body) as resp:
                    assert (resp.status, (await resp.json())["error"]) == (400, "bad_calibration")
            good = {"device": "audiometer-1", "ear": "left", "hz": 500, "db_spl": 91.0}
            async with http.post(CALIBRATION, json=good) as resp:  # not in maintenance
                assert (resp.status, (await resp.json())["error"]) == (409, "not_maintenance")
            assert station.rig is not None
            await station.rig.badge_reader.present(TECHNICIAN_BADGE)
            await eventually(lambda: station.cabin.state is CabinState.MAINTENANCE)
            async with http.post(CALIBRATION, json={**good, "db_spl": 12.0}) as resp:  # no meter reads that
                assert (resp.status, (await resp.json())["error"]) == (400, "bad_calibration")
            assert len(await station.audit.latest(AUDIT_EVENT, 100)) == entries
            async with http.post(CALIBRATION, json=good) as resp:
                assert resp.status == 200 and (await resp.json())["point"]["db_spl"] == 91.0
            async with http.get("/api/state") as resp:
                view = await resp.json()
            points = view["audio_calibration"][0]["points"]
            assert {"ear": "left", "hz": 500, "db_spl": 91.0, "recorded_at": points[-1]["recorded_at"],
                    "max_db_hl": 95} in points
