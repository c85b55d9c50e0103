"""The fleet view (docs/design.md, "The fleet view"): the pure alert function, the `station_health` message,
the station's report made from what it sees and kept for the next connection, the store's round trip on both
backends, the page's API by role, and /metrics parsed with prometheus_client's own text parser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from ipaddress import IPv4Network
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.engine import URL

from config.schema import HubSection
from devices.instrument import DeviceHealth
from fleet.daemons import free_port
from hub.config import CoordinatorAccount, ListenSection, MonitoringSection, token_digest
from hub.fleet import records
from hub.fleet.alerts import Latest, Thresholds, alerts
from hub.server import Hub
from hygiene.store import CabinRecord
from printer.status import PrinterStatus
from protocol.hub import FROM_STATION, DeviceState, HubProtocolError, PrinterState, StationHealth, dump, parse
from protocol.states import CabinState
from runtime.clock import Clock
from station.health import Look, alarm_key, health_of
from station.hub_client import HubClient
from tests.booking import STATION_TOKENS, open_store
from tests.test_hub_desk import COORDINATOR_PASSWORD, desk_config
from tests.test_hub_desk import log_in as staff_log_in

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CABIN = "cabin-nangis-1"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


def healthy(**changes: Any) -> StationHealth:
    """A ready cabin, printer ready, a thermometer at 80 %, reporting every 30 s."""
    base = StationHealth(
        state=CabinState.READY, cleaning_due=False, devices=(
            DeviceState(id="thermo-1", kind="thermometer", connected=True, battery=80),),
        printer=PrinterState(reachable=True), loop_lag_s=0.01, version="0.1.0", uptime_s=3600.0, interval_s=30.0)
    return base.model_copy(update=changes)


def kinds(health: StationHealth, *, age_s: float = 0.0, station: str = CABIN) -> list[tuple[str, str]]:
    found = alerts([Latest(station, NOW - timedelta(seconds=age_s), health)], NOW, Thresholds())
    return [(a.kind, a.severity) for a in found]


@pytest.mark.parametrize(("health", "age_s", "expected"), [
    (healthy(), 0.0, []),
    (healthy(), 89.0, []),  # within 3 intervals
    (healthy(), 91.0, [("offline", "critical")]),  # and nothing else from a stale report
    # A station claiming an hour between reports is offline after the hub's own bound, offline_after_s (180 s).
    (healthy(interval_s=3600.0), 179.0, []),
    (healthy(interval_s=3600.0), 181.0, [("offline", "critical")]),
    (healthy(printer=PrinterState(reachable=True, problem="paper_out")), 0.0, [("paper_out", "critical")]),
    (healthy(printer=PrinterState(reachable=False, problem="unreachable")), 0.0, [("printer_down", "critical")]),
    (healthy(printer=PrinterState(reachable=True, problem="cover_open")), 0.0, [("printer_down", "critical")]),
    (healthy(printer=PrinterState(reachable=True, paper_low=True)), 0.0, [("paper_low", "info")]),
    (healthy(devices=(DeviceState(id="t", kind="thermometer", connected=False),)), 0.0, [("device_down", "warning")]),
    (healthy(devices=(DeviceState(id="t", kind="thermometer", connected=True, battery=20),)), 0.0,
     [("low_battery", "info")]),
    (healthy(devices=(DeviceState(id="t", kind="thermometer", connected=True, battery=21),)), 0.0, []),
    (healthy(state=CabinState.AWAITING_CLEANING, cleaning_due=True, dirty_for_s=1790.0), 0.0, []),
    # the wait goes on after the report: 1790 s reported 20 s ago is past 30 minutes now
    (healthy(state=CabinState.AWAITING_CLEANING, cleaning_due=True, dirty_for_s=1790.0), 20.0,
     [("cleaning_overdue", "warning")]),
    (healthy(loop_lag_s=0.5), 0.0, [("high_lag", "warning")]),
    (healthy(loop_lag_s=0.49), 0.0, []),
])
def test_alerts_come_from_the_latest_health_and_the_time_now(health: StationHealth, age_s: float,
                                                             expected: list[tuple[str, str]]) -> None:
    assert kinds(health, age_s=age_s) == expected


def test_alerts_are_sorted_by_urgency_then_kind_then_the_oldest_report() -> None:
    low = healthy(devices=(DeviceState(id="t", kind="thermometer", connected=True, battery=5),))
    both = healthy(printer=PrinterState(reachable=True, problem="paper_out"),
                   devices=(DeviceState(id="s", kind="scale", connected=False),))
    latest = [Latest("a-low", NOW, low), Latest("b-both", NOW - timedelta(seconds=5), both),
              Latest("c-offline", NOW - timedelta(hours=1), healthy()), Latest("d-paper", NOW, both)]
    found = [(a.station, a.kind) for a in alerts(latest, NOW, Thresholds())]
    assert found == [("c-offline", "offline"), ("b-both", "paper_out"), ("d-paper", "paper_out"),
                     ("b-both", "device_down"), ("d-paper", "device_down"), ("a-low", "low_battery")]


def test_a_station_of_the_hubs_never_heard_of_is_a_critical_alert_after_the_offline_ones() -> None:
    latest = [Latest("b-offline", NOW - timedelta(hours=1), healthy()), Latest("c-paper", NOW, healthy(
        printer=PrinterState(reachable=True, problem="paper_out")))]
    found = alerts(latest, NOW, Thresholds(), stations=("d-silent", "a-silent", "b-offline", "c-paper"))
    assert [(a.station, a.kind, a.severity) for a in found] == [
        ("b-offline", "offline", "critical"), ("a-silent", "never_reported", "critical"),
        ("d-silent", "never_reported", "critical"), ("c-paper", "paper_out", "critical")]
    assert found[1].to_json() == {"station": "a-silent", "kind": "never_reported", "severity": "critical",
                                  "at": None, "detail": {}}


def test_the_thresholds_come_from_the_monitoring_section() -> None:
    thresholds = Thresholds.of(MonitoringSection(cleaning_overdue_minutes=5, low_battery_percent=50, lag_warning_s=2,
                                                 offline_after_s=600))
    assert thresholds == Thresholds(cleaning_overdue_s=300.0, low_battery_percent=50, lag_warning_s=2.0,
                                    offline_after_s=600.0)


def test_the_health_message_parses_strictly() -> None:
    health = healthy(dirty_for_s=12.5, last_cleaning="2026-12-07T09:00:00+01:00")
    assert parse(FROM_STATION, dump(health)) == health
    message = json.loads(dump(health))
    for bad in ({"patient_name": "Camille"}, {"uptime_s": -1}, {"interval_s": 0},
                {"devices": [{"id": "t", "kind": "thermometer", "connected": True, "battery": 101}]},
                {"printer": {"reachable": True, "paper": 0}}):
        with pytest.raises(HubProtocolError):
            parse(FROM_STATION, json.dumps(message | bad))


def record(**changes: Any) -> CabinRecord:
    fields: dict[str, Any] = {"state": "ready", "session": "", "cleaning_required": False, "mark_session": "",
                              "mark_set_at": "", "last_consultation_end": "", "last_cleaning_at": "",
                              "last_cleaned_by": "", "out_of_service_reason": "", "updated_at": ""}
    return CabinRecord(**(fields | changes))


def look(state: CabinState, cabin: CabinRecord, printer: PrinterStatus | None = None) -> Look:
    devices = (DeviceHealth("thermo-1", "thermometer", connected=False, battery_percent=40, last_error="x" * 500),)
    return Look(state=state, record=cabin, devices=devices, printer=printer, now=NOW, lags=(0.002, 0.3, 0.01),
                uptime_s=60.0)


def test_the_station_reports_what_it_sees_without_a_patient() -> None:
    dirty = record(cleaning_required=True, mark_session="s-1", mark_set_at=(NOW - timedelta(minutes=40)).isoformat(),
                   last_consultation_end=(NOW - timedelta(minutes=10)).isoformat())
    health = health_of(look(CabinState.AWAITING_CLEANING, dirty, PrinterStatus(reachable=True, online=True,
                                                                               paper_end=True)), 30.0, "0.1.0")
    assert (health.cleaning_due, health.dirty_for_s, health.loop_lag_s) == (True, 600.0, 0.3)
    assert health.printer == PrinterState(reachable=True, problem="paper_out")
    device = health.devices[0]
    assert (device.connected, device.battery, len(device.error or "")) == (False, 40, 200)
    # While the patient is still in, the mark is set but the cabin is not waiting for its cleaning.
    assert health_of(look(CabinState.IN_CONSULTATION, dirty), 30.0, "0.1.0").dirty_for_s is None
    # Paper out changes what alerts are made of; the lag and the uptime do not.
    ready = health_of(look(CabinState.READY, record(), PrinterStatus(reachable=True, online=True)), 30.0, "0.1.0")
    assert alarm_key(ready) != alarm_key(health)
    assert alarm_key(ready) == alarm_key(ready.model_copy(update={"loop_lag_s": 2.0, "uptime_s": 9.0}))


async def test_reports_and_their_history_round_trip_and_are_pruned(store_url: URL) -> None:
    async with open_store(store_url, desk_config()) as store:
        first, second = healthy(), healthy(printer=PrinterState(reachable=True, problem="paper_out"))
        old = NOW - timedelta(days=8)
        for at, health in ((old, first), (NOW - timedelta(minutes=1), first), (NOW, second)):
            report = health.model_dump(mode="json", exclude_none=True)
            await store.run(partial(records.keep, station_id=CABIN, at=at, report=report, sample=True))
        await store.run(lambda s: records.keep(s, "cabin-chelles-1", NOW, first.model_dump(mode="json"), sample=False))
        latest = await store.run(records.latest)
        assert [(sid, at) for sid, at, _ in latest] == [("cabin-chelles-1", NOW), (CABIN, NOW)]
        assert StationHealth.model_validate(latest[1][2]) == second
        history = await store.run(lambda s: records.history(s, CABIN, NOW - timedelta(days=30)))
        assert [at for at, _ in history] == [old, NOW - timedelta(minutes=1), NOW]
        assert await store.run(lambda s: records.prune(s, NOW - timedelta(days=7))) == 1
        history = await store.run(lambda s: records.history(s, CABIN, NOW - timedelta(days=30)))
        assert [at for at, _ in history] == [NOW - timedelta(minutes=1), NOW]


def fleet_config(**monitoring: Any) -> Any:
    """desk_config with a technician, "tom", and cabin-nangis-1's token long enough for a station's file."""
    config = desk_config()
    technician = CoordinatorAccount(username="tom", name="Tom Technicien", role="technician",
                                    password_hash=config.coordinators[0].password_hash)
    return config.model_copy(update={"coordinators": (*config.coordinators, technician),
                                     "monitoring": MonitoringSection(**monitoring)})


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    server = Hub(fleet_config(metrics_token_sha256=token_digest(METRICS_TOKEN)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def reporting(http: aiohttp.ClientSession, hub: Hub, health: StationHealth) -> aiohttp.ClientWebSocketResponse:
    """cabin-nangis-1 connected, its report sent and kept."""
    ws = await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {STATION_TOKENS[CABIN]}"})
    assert json.loads(await ws.receive_str())["type"] == "welcome"
    await ws.send_str(dump(health))
    async with asyncio.timeout(5):
        while not any(one.station == CABIN for one in await hub.fleet.latest()):
            await asyncio.sleep(0.02)
    return ws


async def test_the_fleet_api_is_for_coordinators_and_technicians(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.url}/api/fleet") as response:
        assert response.status == 401
    ws = await reporting(http, hub, healthy(printer=PrinterState(reachable=True, problem="paper_out")))
    await staff_log_in(http, hub, "claire.martin")  # a GP
    async with http.get(f"{hub.url}/api/fleet") as response:
        assert response.status == 403
    await http.post(f"{hub.url}/api/logout", headers={"Origin": hub.origin})
    async with http.post(f"{hub.url}/api/login", json={"username": "tom", "password": COORDINATOR_PASSWORD},
                         headers={"Origin": hub.origin}) as response:
        assert response.status == 200
    async with http.get(f"{hub.url}/api/fleet") as response:
        body = await response.json()
    assert body["role"] == "technician"
    cabins = {c["station"]: c for c in body["cabins"]}
    assert cabins[CABIN]["online"] and cabins[CABIN]["health"]["printer"]["problem"] == "paper_out"
    assert cabins["cabin-chelles-1"]["health"] is None and not cabins["cabin-chelles-1"]["online"]
    silent = sorted(sid for sid in cabins if sid != CABIN)
    assert [(a["station"], a["kind"]) for a in body["alerts"]] == [
        *((sid, "never_reported") for sid in silent), (CABIN, "paper_out")]
    assert body["alerts"][-1]["site"] == "Nangis"
    async with http.get(f"{hub.url}/api/fleet/history/{CABIN}") as response:
        samples = (await response.json())["samples"]
    assert [(s["state"], s["batteries"]) for s in samples] == [("ready", {"thermo-1": 80})]
    async with http.get(f"{hub.url}/api/fleet/history/nowhere") as response:
        assert response.status == 404
    await ws.close()


def metrics_of(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_give_the_hub_and_every_station_to_a_scraper_it_allows(hub: Hub,
                                                                             http: aiohttp.ClientSession) -> None:
    health = healthy(printer=PrinterState(reachable=True, problem="paper_out"), loop_lag_s=0.25,
                     devices=(DeviceState(id="thermo-1", kind="thermometer", connected=True, battery=35),
                              DeviceState(id="scale-1", kind="scale", connected=False)))
    ws = await reporting(http, hub, health)
    async with http.get(f"{hub.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as response:
        assert response.status == 200
        found = metrics_of(await response.text())
    station = (("station", CABIN),)
    assert found[("cabin_hub_stations_connected", ())] == 1.0
    assert found[("cabin_hub_gps_connected", ())] == 0.0
    assert found[("cabin_hub_messages_relayed_total", ())] == 0.0
    assert found[("process_resident_memory_bytes", ())] > 0
    assert found[("cabin_station_up", station)] == 1.0
    assert found[("cabin_station_up", (("station", "cabin-chelles-1"),))] == 0.0  # never reported
    assert found[("cabin_station_paper_out", station)] == 1.0
    assert found[("cabin_station_printer_up", station)] == 0.0
    assert found[("cabin_station_loop_lag_seconds", station)] == 0.25
    assert found[("cabin_station_cleaning_overdue", station)] == 0.0
    assert found[("cabin_station_state", (("state", "ready"), *station))] == 1.0
    assert found[("cabin_device_battery_ratio", (("device", "thermo-1"), *station))] == 0.35
    assert found[("cabin_device_up", (("device", "scale-1"), ("kind", "scale"), *station))] == 0.0
    assert found[("cabin_station_info", (*station, ("version", "0.1.0")))] == 1.0
    await ws.close()


async def test_once_a_token_is_set_metrics_need_it_whatever_the_address(hub: Hub, http: aiohttp.ClientSession) -> None:
    # The hub fixture's [monitoring] lists this machine in metrics_from (the default) and sets a token: behind a
    # proxy every request comes from 127.0.0.1, so the address must not let anyone in.
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": "Bearer "}):
        async with http.get(f"{hub.url}/metrics", headers=headers) as response:
            assert response.status == 403, headers
            assert "metrics_token_sha256" in (await response.json())["message"]


async def test_without_a_token_metrics_go_by_the_address(http: aiohttp.ClientSession) -> None:
    for listed, status in (((), 403), ((IPv4Network("127.0.0.1/32"),), 200)):
        server = Hub(fleet_config(metrics_from=listed))
        await server.start()
        try:
            async with http.get(f"{server.url}/metrics") as response:
                assert response.status == status, listed
                if status == 403:
                    assert "metrics_from" in (await response.json())["message"]
                else:
                    assert ("cabin_hub_stations_connected", ()) in metrics_of(await response.text())
        finally:
            await server.stop()


async def _ignored(_: object) -> None:
    """A station handler the test has no use for."""


async def test_a_report_made_while_the_hub_is_away_reaches_it_at_the_connection() -> None:
    port, token = free_port(), "cabin-nangis-1-token-0123456789"
    config = fleet_config()
    stations = tuple(s.model_copy(update={"token_sha256": token_digest(token)}) if s.id == CABIN else s
                     for s in config.stations)
    section = HubSection(url=f"ws://127.0.0.1:{port}/ws/station", station_id=CABIN, token=SecretStr(token))
    client = HubClient(section, Clock(speed=1000.0), on_gp_join=_ignored, on_signal=_ignored, on_gp_left=_ignored)
    await client.start()
    server = Hub(config.model_copy(update={"stations": stations, "hub": ListenSection(port=port)}))
    try:
        await client.send_health(healthy(printer=PrinterState(reachable=True, problem="paper_out")))  # kept
        await server.start()
        async with asyncio.timeout(10):
            while not (found := await server.fleet.latest()):
                await asyncio.sleep(0.05)
        assert [(one.station, one.health.printer) for one in found] == [
            (CABIN, PrinterState(reachable=True, problem="paper_out"))]
    finally:
        await client.stop()
        await server.stop()
