"""A technician maintains a cabin from the hub (docs/design.md, "Remote maintenance"): a real hub, a real simulated
station dialled in over the real WebSocket, the technician on the hub's HTTP API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, Route

from devices.measurements import BloodPressure, CuffPressure
from hub.config import SCRYPT_MIN_N, CoordinatorAccount, hash_password
from hub.maintenance import RUN_S, START_S
from hub.server import Hub
from protocol.booking_code import display_code
from protocol.hub import Maintenance, MaintenanceResult, dump
from sim.badges import TECHNICIAN_BADGE
from tests.booking import MONDAY, Wall, at, patient
from tests.browser import chromium, collect_errors, missing_texts
from tests.conftest import running_station
from tests.kiosk import BROWSER_MS
from tests.remote import CABIN, CHECK_IN_AT, TOKEN, booking_hub, dialling
from tests.test_hub import login, receive, station_socket

FLEET_PAGE = Path(__file__).resolve().parent.parent / "hub" / "fleet_page"
STAFF = tuple(CoordinatorAccount.model_validate({"username": name, "name": name.title(), "role": role,
                                                 "password_hash": hash_password("secret", n=SCRYPT_MIN_N, p=1)})
              for name, role in (("tom.tech", "technician"), ("cora", "coordinator")))


def maintenance_hub(wall: Wall) -> AbstractAsyncContextManager[Hub]:
    """The booking test hub with a technician (tom.tech) and a coordinator (cora), password "secret"."""
    return booking_hub(wall, coordinators=STAFF)


@asynccontextmanager
async def technician(hub: Hub, username: str = "tom.tech") -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await login(http, hub, username, "secret"))[0] == 200
        yield http


def url(hub: Hub, station: str = CABIN) -> str:
    return f"{hub.url}/api/fleet/stations/{station}/maintenance"


async def ask(http: aiohttp.ClientSession, hub: Hub, action: str, fields: dict[str, object] | None = None,
              station: str = CABIN) -> tuple[int, dict[str, Any]]:
    async with http.post(url(hub, station), json={"action": action, **(fields or {})},
                         headers={"Origin": hub.origin}) as response:
        return response.status, await response.json()


async def runs(http: aiohttp.ClientSession, hub: Hub) -> list[dict[str, Any]]:
    async with http.get(url(hub)) as response:
        assert response.status == 200
        body: list[dict[str, Any]] = (await response.json())["runs"]
        return body


async def done(http: aiohttp.ClientSession, hub: Hub, action: str, **fields: object) -> dict[str, Any]:
    """Ask for a run and poll the runs, as the fleet page does, until it is answered."""
    status, asked = await ask(http, hub, action, fields)
    assert status == 202, asked
    async with asyncio.timeout(15):
        while (run := next(r for r in await runs(http, hub) if r["id"] == asked["run"]["id"]))["status"] == "pending":
            await asyncio.sleep(0.05)
    assert (run["action"], run["technician"]) == (action, "tom.tech")
    return run


async def test_diagnostics_and_logs_carry_no_patient_data_and_nothing_else_is_done_while_a_patient_is_in(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the station logs at INFO, as on the simulator
    async with (maintenance_hub(Wall()) as hub,
                running_station(tmp_path / "state", dialling(hub), speed=1.0, start=CHECK_IN_AT) as (station, crew),
                technician(hub) as http):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        made = await hub.book.book(patient(at(MONDAY, "09:45"), name="Hortense Zabulon"), actor="coordinator",
                                   channel="phone")
        async with asyncio.timeout(5):
            while await station.book.find(made.code) is None:
                await asyncio.sleep(0.02)
        consultation = asyncio.get_running_loop().create_task(crew.consultation(made.code))  # the GP on duty
        await crew.kiosk.wait_state("in_consultation")
        # A careless line of the kind redaction is for: the station's own logs name no patient.
        logging.getLogger("session.checkin").warning("checked in %s for patient_name=%s, born %s",
                                                     display_code(made.code), "Hortense Zabulon", "1968-04-12")

        diagnostics = await done(http, hub, "diagnostics")
        assert diagnostics["status"] == "ok" and diagnostics["result"]["state"] == "in_consultation"
        rows = diagnostics["result"]["devices"]
        instruments = {i.device_id for i in station.devices.instruments}
        assert {row["device_id"] for row in rows} >= instruments
        assert all(row["self_test"]["ok"] is None and "connected" in row and "battery_percent" in row
                   for row in rows if row["device_id"] in instruments)  # health only: nothing tested

        for action, fields in (("self_test", {}), ("out_of_service", {"reason": "Écran cassé"})):
            refused = await done(http, hub, action, **fields)
            assert (refused["status"], refused["code"]) == ("failed", "patient_in")
            assert "a patient is in the cabin" in refused["error"]
        assert (await crew.kiosk.current())["state"] == "in_consultation"

        logs = await done(http, hub, "logs", lines=200)
        text = json.dumps(logs)
        assert any(line["message"].startswith("connected to the hub") for line in logs["result"]["lines"])
        assert any("checked in [code] for patient_name=[redacted], born [date]" == line["message"]
                   for line in logs["result"]["lines"])
        for secret in (made.code, display_code(made.code), "Hortense", "Zabulon", "1968-04-12"):
            assert secret not in text

        consultation.cancel()
        await asyncio.gather(consultation, return_exceptions=True)
        await crew.kiosk.post("/api/leave")  # the patient leaves: the cleaning mark stays set
        await crew.kiosk.wait_state("awaiting_cleaning")
        taken = await done(http, hub, "out_of_service", reason="Tensiomètre en réparation")
        assert taken["result"] == {"state": "out_of_service", "reason": "Tensiomètre en réparation"}
        back = await done(http, hub, "back_in_service")
        assert back["result"] == {"state": "awaiting_cleaning", "cleaning_required": True}  # the mark is absolute
        await crew.kiosk.wait_state("awaiting_cleaning")


async def test_out_of_service_shows_on_the_kiosk_survives_a_restart_and_ends_back_in_service(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with maintenance_hub(Wall()) as hub, technician(hub) as http:
        config = dialling(hub)
        async with running_station(state, config) as (station, crew):
            assert station.calls is not None
            async with asyncio.timeout(10):
                await station.calls.hub.wait_connected()
            await crew.kiosk.wait_state("ready")
            refused = await done(http, hub, "self_test")
            assert refused["code"] == "open" and "take it out of service first" in refused["error"]

            taken = await done(http, hub, "out_of_service", reason="Écran en réparation")
            assert taken["status"] == "ok" and taken["reason"] == "Écran en réparation"
            view = await crew.kiosk.wait_state("out_of_service")
            assert view["out_of_service_reason"] == "Écran en réparation"

            tested = await done(http, hub, "self_test")  # out of service, nobody can come in: the devices are tested
            assert tested["status"] == "ok"
            assert all(row["self_test"]["ok"] is True for row in tested["result"]["devices"] if row["required"])
            audited = [json.loads(e.detail) for e in await station.audit.latest("remote_maintenance", 10)]
            assert {(d["action"], d["technician"], d["ok"]) for d in audited} >= {
                ("out_of_service", "tom.tech", True), ("self_test", "tom.tech", True), ("self_test", "tom.tech", False)}

        async with running_station(state, config) as (station, crew):
            assert station.calls is not None
            async with asyncio.timeout(10):
                await station.calls.hub.wait_connected()
            view = await crew.kiosk.wait_state("out_of_service")  # kept in the state database
            assert view["out_of_service_reason"] == "Écran en réparation"
            back = await done(http, hub, "back_in_service")
            assert back["result"] == {"state": "ready", "cleaning_required": False}
            await crew.kiosk.wait_state("ready")
            again = await done(http, hub, "back_in_service")
            assert (again["code"], again["error"]) == ("not_out_of_service",
                                                       "the cabin is not out of service (it is ready)")


async def test_a_self_test_holds_the_cabin_until_it_is_done(tmp_path: Path) -> None:
    """A technician's badge tapped while the cuff inflates waits for the end of the test: no state change meanwhile."""
    async with (maintenance_hub(Wall()) as hub,
                running_station(tmp_path / "state", dialling(hub), speed=100.0) as (station, crew),
                technician(hub) as http):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        await done(http, hub, "out_of_service", reason="Tensiomètre en test")
        await crew.kiosk.wait_state("out_of_service")
        order: list[str] = []
        badge: asyncio.Task[None] | None = None

        async def tap() -> None:
            order.append("badge")
            await station.on_badge(TECHNICIAN_BADGE)

        async def watch() -> None:
            nonlocal badge
            subscription = station.devices.subscribe()
            try:
                async for reading in subscription:
                    if isinstance(reading, CuffPressure) and badge is None:
                        order.append("cuff inflating")
                        badge = asyncio.get_running_loop().create_task(tap())
                    elif isinstance(reading, BloodPressure):
                        order.append("blood pressure")
                        return
            finally:
                station.devices.unsubscribe(subscription)

        watching = asyncio.get_running_loop().create_task(watch())
        tested = await done(http, hub, "self_test")
        await watching
        assert order == ["cuff inflating", "badge", "blood pressure"]  # the badge came during the test
        assert (tested["status"], tested["result"]["state"]) == ("ok", "out_of_service")  # and waited for its end
        assert badge is not None
        await badge
        await crew.kiosk.wait_state("maintenance")


async def test_a_run_that_waited_past_its_start_window_is_refused_not_done_late(tmp_path: Path) -> None:
    """The station's queue: a run held up behind another longer than the hub allows answers expired."""
    async with running_station(tmp_path / "state") as (station, crew):
        await crew.kiosk.wait_state("ready")
        cabin = station.cabin
        held, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:  # the cabin busy: the first run's audit entry waits for it
            held.set()
            await release.wait()

        holding = asyncio.get_running_loop().create_task(cabin.act(hold))
        await held.wait()
        loop = asyncio.get_running_loop()
        first = loop.create_task(station.maintenance.handle(
            Maintenance(run="r1", action="logs", technician="tom.tech", lines=5, start_within_s=START_S)))
        second = loop.create_task(station.maintenance.handle(
            Maintenance(run="r2", action="out_of_service", technician="tom.tech", reason="Écran cassé",
                        start_within_s=0.01)))
        await asyncio.sleep(0.05)  # longer than the second run's window: it is still queued behind the first
        release.set()
        await holding
        assert (await first).ok
        expired = await second
        assert (expired.ok, expired.code) == (False, "expired")
        assert expired.error is not None and "ask again" in expired.error
        assert (await crew.kiosk.current())["state"] == "ready"  # the stale order took nothing out of service


async def test_back_in_service_ends_only_a_technicians_out_of_service(tmp_path: Path) -> None:
    """A cabin out of service because its state storage failed stays so until the storage works again."""
    async with (maintenance_hub(Wall()) as hub, running_station(tmp_path / "state", dialling(hub)) as (station, crew),
                technician(hub) as http):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        await crew.kiosk.wait_state("ready")
        await station.db.run(lambda conn: conn.execute("PRAGMA query_only=ON"))  # every write now fails
        await done(http, hub, "logs", lines=5)  # its audit entry cannot be written: the cabin stops
        view = await crew.kiosk.wait_state("out_of_service")
        assert view["out_of_service_reason"].startswith("state storage failed")

        refused = await done(http, hub, "back_in_service")
        assert (refused["status"], refused["code"]) == ("failed", "not_technician")
        assert refused["error"].startswith("the cabin is out of service for a fault, not by a technician "
                                           "(state storage failed")
        assert (await crew.kiosk.current())["state"] == "out_of_service"

        await station.db.run(lambda conn: conn.execute("PRAGMA query_only=OFF"))
        await crew.kiosk.wait_state("ready")  # the storage works again: the cabin comes back by itself


async def test_the_api_is_for_technicians_from_the_hubs_pages_and_says_when_a_station_is_offline_or_silent(
        http: aiohttp.ClientSession) -> None:
    wall = Wall()
    async with maintenance_hub(wall) as hub, technician(hub) as tech, technician(hub, "cora") as coordinator:
        async with http.get(url(hub)) as response:
            assert response.status == 401
        assert (await ask(coordinator, hub, "diagnostics"))[0] == 403
        async with tech.post(url(hub), json={"action": "diagnostics"}, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        assert (await ask(tech, hub, "diagnostics", station="cabin-nowhere"))[0] == 404
        assert (await ask(tech, hub, "out_of_service"))[1]["fields"] == ["reason"]

        status, body = await ask(tech, hub, "diagnostics")
        assert (status, body["error"]) == (409, "offline") and "is not connected to the hub" in body["message"]
        assert [(r["status"], r["code"]) for r in await runs(tech, hub)] == [("failed", "offline")]
        wall.now += 1

        station = await station_socket(http, hub, TOKEN)  # a station that hears but never answers
        status, body = await ask(tech, hub, "logs", {"lines": 5})
        assert status == 202
        sent = await receive(station, "maintenance")
        assert (sent["run"], sent["action"], sent["technician"], sent["lines"], sent["start_within_s"]) == (
            body["run"]["id"], "logs", "tom.tech", 5, START_S)
        wall.now += START_S + RUN_S["logs"] + 1  # no answer in time
        silent = (await runs(tech, hub))[0]
        assert (silent["status"], silent["code"], silent["late"]) == ("timed_out", "timeout", False)
        assert silent["error"] == f"the station did not answer within {START_S + RUN_S['logs']:.0f} s"
        late = MaintenanceResult(run=sent["run"], action="logs", ok=True, result={"lines": []})
        await station.send_str(dump(late))  # kept, as a late answer
        async with asyncio.timeout(5):
            while (answered := (await runs(tech, hub))[0])["status"] == "timed_out":
                await asyncio.sleep(0.02)
        assert (answered["status"], answered["late"], answered["result"]) == ("ok", True, {"lines": []})
        wall.now += 1

        status, body = await ask(tech, hub, "diagnostics")
        sent = await receive(station, "maintenance")
        await station.send_str(dump(MaintenanceResult(run=sent["run"], action="diagnostics", ok=True,
                                                      result={"devices": []})))
        async with asyncio.timeout(5):
            while (latest := (await runs(tech, hub))[0])["status"] == "pending":
                await asyncio.sleep(0.02)
        assert (latest["id"], latest["status"], latest["result"]) == (body["run"]["id"], "ok", {"devices": []})
        assert [(r["status"], r["late"]) for r in await runs(tech, hub)] == [("ok", False), ("ok", True),
                                                                             ("failed", False)]


async def maintenance_panel(browser: Browser, hub: Hub) -> tuple[Page, list[str]]:
    """tom.tech's page on the hub's origin with CABIN's maintenance panel mounted, the fleet page's files served
    as the fleet page will serve them, once the station is online; the page and its errors."""
    page = await (await browser.new_context()).new_page()
    errors = collect_errors(page)

    async def fleet_file(route: Route) -> None:
        name = route.request.url.split("/fleet/", 1)[1]
        assert ".." not in name
        await route.fulfill(path=FLEET_PAGE / name)

    await page.route(f"{hub.url}/fleet/**", fleet_file)
    login = await page.request.post(f"{hub.url}/api/login", data={"username": "tom.tech", "password": "secret"},
                                    headers={"Origin": hub.origin})
    assert login.status == 200
    await page.goto(f"{hub.url}/api/me")
    await page.evaluate("""async (station) => {
        await (await import("/ui/i18n.js")).init("/fleet/i18n/", "en");
        (await import("/fleet/maintenance.js")).mountMaintenance(document.body, station);
    }""", CABIN)
    await page.wait_for_selector("[data-role=online][data-online=true]", timeout=BROWSER_MS)
    return page, errors


async def test_the_panel_says_when_a_cabin_answered_late(http: aiohttp.ClientSession) -> None:
    wall = Wall()
    async with maintenance_hub(wall) as hub, chromium() as browser:
        station = await station_socket(http, hub, TOKEN)  # the test answers for the station
        page, errors = await maintenance_panel(browser, hub)
        await page.click("button[data-action=logs]")
        sent = await receive(station, "maintenance")
        run = page.locator(f"li[data-run='{sent['run']}']")
        await run.and_(page.locator("[data-status=pending]")).wait_for(timeout=BROWSER_MS)
        wall.now += START_S + RUN_S["logs"] + 1
        await run.and_(page.locator("[data-status=timed_out]")).wait_for(timeout=BROWSER_MS)
        assert "The cabin did not answer in time" in await run.locator("[data-role=error]").inner_text()

        await station.send_str(dump(MaintenanceResult(run=sent["run"], action="logs", ok=True, result={"lines": []})))
        await run.and_(page.locator("[data-status=ok][data-late=true]")).wait_for(timeout=BROWSER_MS)
        assert (await run.locator("[data-role=late]").inner_text()).startswith("Answered late (")
        assert await run.locator("[data-role=error]").count() == 0
        assert await missing_texts(page) == [] and errors == []


async def test_the_fleet_pages_maintenance_panel_runs_each_action_and_shows_its_result(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """maintenance.js in Chromium on the hub's origin, its files served as the fleet page will serve them."""
    caplog.set_level(logging.INFO)  # the station logs at INFO, as on the simulator
    async with (maintenance_hub(Wall()) as hub, running_station(tmp_path / "state", dialling(hub)) as (station, crew),
                chromium() as browser):
        assert station.calls is not None
        async with asyncio.timeout(10):
            await station.calls.hub.wait_connected()
        page, errors = await maintenance_panel(browser, hub)

        async def run(action: str) -> Locator:
            before = await page.locator(f"li[data-action={action}]").count()
            await page.click(f"button[data-action={action}]")
            done = page.locator(f"li[data-action={action}]:not([data-status=pending])")
            await done.nth(0).wait_for(timeout=BROWSER_MS)
            assert await page.locator(f"li[data-action={action}]").count() == before + 1
            return done.nth(0)

        diagnostics = await run("diagnostics")
        assert await diagnostics.get_attribute("data-status") == "ok"
        oximeter = diagnostics.locator("tr[data-device=oximeter-1]")
        assert await oximeter.locator("td").nth(0).inner_text() == "yes"
        assert await oximeter.locator("td").nth(3).inner_text() == "not tested"

        logs = await run("logs")
        assert "INFO station.hub_client: connected to the hub" in await logs.locator("[data-role=log-lines]").inner_text()

        refused = await run("self_test")
        assert await refused.get_attribute("data-status") == "failed"
        assert "The cabin is open to patients" in await refused.locator("[data-role=error]").inner_text()

        await page.click("button[data-action=out_of_service]")
        await page.fill("input[data-role=reason]", "Écran en réparation")
        await page.click("button[data-action=confirm-out-of-service]")
        taken = page.locator("li[data-action=out_of_service][data-status=ok]")
        await taken.wait_for(timeout=BROWSER_MS)
        assert "Out of service — “Écran en réparation”" in await taken.inner_text()
        assert (await crew.kiosk.wait_state("out_of_service"))["out_of_service_reason"] == "Écran en réparation"

        back = await run("back_in_service")
        assert await back.locator("[data-role=state]").inner_text() == "Cabin state: ready"
        await crew.kiosk.wait_state("ready")
        assert await missing_texts(page) == [] and errors == []
