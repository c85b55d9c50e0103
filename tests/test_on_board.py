"""The station on board a mobile unit (docs/design.md, "On board"): the call's admission rules as vectors,
then the simulated vehicle's station fed the secretary's messages, its stop's closing and the full
cleaning it calls for, across a restart."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from config.loader import load_config
from config.schema import CabinConfig
from protocol.booking_code import new_code
from protocol.hub import CallAnswer, CallPatient, QueueBoard, StopState
from protocol.states import CabinState as S
from protocol.versioned import encode
from runtime.clock import PARIS
from session.appointments import Appointment, end_of_day
from session.on_board import CallRefused, call_refusal
from sim.badges import REFERENT_BADGE
from sim.crew import SimCrew
from station.compose import Station
from tests.booking import MONDAY, at
from tests.browser import chromium, collect_errors, missing_texts
from tests.conftest import running_station
from tests.kiosk import BROWSER_MS, in_state, open_kiosk, shot
from tests.test_cabin_flows import gp_joins
from tests.test_cli_errors import cabin, refused
from tests.test_printer_cabin import MEDICATION, _number, _until

REPO = Path(__file__).resolve().parent.parent
VEHICLE = REPO / "config" / "defaults" / "vehicle.toml"
SITE = "CHR180"
SANCOINS = "Sancoins, place de la Libération"
MONDAY_0920 = at(MONDAY, "09:20")
ADULT = Appointment(code="X", patient_name="Camille Lefèvre", birth_date=date(1968, 4, 12), sex="F",
                    slot_start=at(MONDAY, "09:30"), slot_minutes=20, site=SITE, gp="Dr Claire")


def vehicle_config() -> CabinConfig:
    """The packaged on-board configuration, on the simulator."""
    return load_config(VEHICLE, simulator=True)


@pytest.mark.parametrize(("appt", "refused"), [
    (ADULT, None),
    (replace(ADULT, slot_start=at(MONDAY, "16:25")), None),  # late or early: the secretary decides when
    (None, "unknown_code"),
    (replace(ADULT, used_at="2026-12-07T09:31:00+01:00"), "already_used"),
    (replace(ADULT, status="cancelled"), "cancelled"),
    (replace(ADULT, site="NAN231"), "wrong_site"),
    (replace(ADULT, slot_start=at(date(2026, 12, 8), "09:30")), "not_today"),
    (replace(ADULT, birth_date=date(2013, 1, 1)), "under_14"),
    (replace(ADULT, birth_date=date(2010, 1, 1)), "representative_required"),
    (replace(ADULT, birth_date=date(2010, 1, 1), representative="Jean Lefèvre"), None),
    (replace(ADULT, birth_date=date(2012, 12, 7)), "representative_required"),  # 14 today
    (replace(ADULT, birth_date=date(2012, 12, 8)), "under_14"),  # 14 tomorrow
])
def test_a_call_is_admitted_by_its_booking_alone(appt: Appointment | None, refused: str | None) -> None:
    got = call_refusal(appt, SITE, MONDAY)
    assert (got.code if got else None) == refused
    assert got is None or isinstance(got, CallRefused) and got.message


@asynccontextmanager
async def vehicle(state_dir: Path, start: datetime = MONDAY_0920) -> AsyncIterator[tuple[Station, SimCrew]]:
    """The vehicle's station on Monday 09:20 (or `start`), the day of the Sancoins stop, fast enough for contact
    times; a called patient waits, and a cleaning stays under way, for days of its clock (no test races them)."""
    config = vehicle_config()
    days = config.timeouts.model_copy(update={"doctor_wait_s": 864000.0, "cleaning_inactivity_s": 864000.0})
    config = config.model_copy(update={"timeouts": days})
    async with running_station(state_dir, config, speed=1000.0, start=start) as running:
        assert running[0].on_board is not None
        yield running


async def booked(station: Station) -> str:
    """An adult's booking of today at the stop, on the station's disk as the hub's feed leaves it; its code."""
    code = new_code()
    await station.book.add(replace(ADULT, code=code, slot_start=at(MONDAY, "09:40")))
    return code


async def send(station: Station, message: CallPatient | StopState | QueueBoard) -> CallAnswer | None:
    """What the hub's `call`, `stop` or `queue` does, as the hub client hands it over."""
    assert station.on_board is not None
    return await station.on_board.handle(message)


async def test_the_cabin_opens_with_the_stop_and_takes_the_called_patient_straight_to_the_gp(tmp_path: Path) -> None:
    async with vehicle(tmp_path / "state") as (station, crew):
        assert station.cabin.state is S.CLOSED  # 09:20 on a stop's day: closed until the secretary opens
        code = await booked(station)
        assert await send(station, CallPatient(visit="v1", ticket=1, code=code)) == CallAnswer(
            visit="v1", accepted=False, code="closed", message="the stop is closed")

        await send(station, StopState(open=True, place=SANCOINS))
        assert station.cabin.state is S.READY
        for _ in range(station.config.checkin.max_wrong_codes + 1):  # a call is never a guess
            answer = await send(station, CallPatient(visit="v0", ticket=9, code=new_code()))
            assert answer is not None and answer.code == "unknown_code"
        assert station.patient_desk.checkin_paused_for() == 0

        assert await send(station, CallPatient(visit="v1", ticket=1, code=code)) == CallAnswer(visit="v1",
                                                                                               accepted=True)
        snapshot = station.cabin.snapshot()
        assert snapshot.state is S.WAITING_FOR_DOCTOR and snapshot.cleaning_required
        assert snapshot.consultation is not None and snapshot.consultation.visit == "v1"
        assert await crew.used(code)
        again = await send(station, CallPatient(visit="v2", ticket=2, code=await booked(station)))
        assert again == CallAnswer(visit="v2", accepted=False, code="not_ready",
                                   message="the cabin is waiting_for_doctor")

        await station.patient_desk.leave()
        answer = await send(station, CallPatient(visit="v2", ticket=2, code=code))
        assert answer is not None and answer.code == "not_clean"
        assert station.staff_desk.protocol_due() is station.config.cleaning  # the light one between patients
        await crew.clean()
        assert station.cabin.state is S.READY


async def test_closing_the_stop_calls_for_the_full_cleaning_after_the_consultation_and_across_a_restart(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with vehicle(state) as (station, _):
        await send(station, StopState(open=True, place=SANCOINS))
        assert await send(station, CallPatient(visit="v1", ticket=1, code=await booked(station))) == CallAnswer(
            visit="v1", accepted=True)
        await send(station, StopState(open=False))
        assert station.cabin.state is S.WAITING_FOR_DOCTOR  # the patient in the room is seen first
        await station.patient_desk.leave()
        assert station.cabin.state is S.AWAITING_CLEANING
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning
    async with vehicle(state) as (station, crew):  # a crash or a restart keeps what is due
        assert station.cabin.state is S.AWAITING_CLEANING
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning
        await crew.clean()
        assert station.cabin.state is S.CLOSED  # cleaned after the stop: closed until the next one opens
        assert station.staff_desk.protocol_due() is station.config.cleaning
        closing = station.config.closing_cleaning
        assert closing is not None
        [last] = await station.audit.latest("cleaning_cleared", 1)
        assert [step for step, _ in json.loads(last.detail)["steps"]] == [s.id for s in closing.steps]


async def test_an_open_stop_stays_open_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with vehicle(state) as (station, _):
        await send(station, StopState(open=True, place=SANCOINS))
        assert station.cabin.state is S.READY
    async with vehicle(state) as (station, _):
        assert station.cabin.state is S.READY
        await send(station, StopState(open=False))
        assert station.cabin.state is S.AWAITING_CLEANING
    async with vehicle(state) as (station, _):
        assert station.cabin.state is S.AWAITING_CLEANING
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning


async def test_a_stop_never_said_closed_has_ended_by_the_next_day_and_its_full_cleaning_comes_first(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with vehicle(state) as (station, _):
        await send(station, StopState(open=True, place=SANCOINS))
        assert station.cabin.state is S.READY
    # The station was off when the secretary closed Monday's stop: on Tuesday it is closed, not open...
    async with vehicle(state, at(date(2026, 12, 8), "08:50")) as (station, crew):
        assert station.cabin.state is S.CLOSED
        await send(station, StopState(open=True, place="Lignières, parking de la salle des fêtes"))
        # ...and opening Tuesday's calls first for the full cleaning Monday's closing was due.
        assert station.cabin.state is S.AWAITING_CLEANING
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning
        answer = await send(station, CallPatient(visit="v1", ticket=1, code=new_code()))
        assert answer is not None and answer.code == "not_clean"
        await crew.clean()
        assert station.cabin.state is S.READY  # Tuesday's stop, open once cleaned


async def test_closing_the_stop_from_ready_or_during_a_light_cleaning_marks_the_cabin_for_the_full_one(
        tmp_path: Path) -> None:
    async with vehicle(tmp_path / "state") as (station, crew):
        await send(station, StopState(open=True, place=SANCOINS))
        await send(station, StopState(open=False))  # nobody came: the cabin was open, it is cleaned all the same
        assert station.cabin.state is S.AWAITING_CLEANING and station.cabin.snapshot().cleaning_required
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning
        await send(station, StopState(open=False))  # said again after a reconnection: nothing more
        await crew.clean()
        assert station.cabin.state is S.CLOSED

        await send(station, StopState(open=True))
        await send(station, CallPatient(visit="v1", ticket=1, code=await booked(station)))
        await station.patient_desk.leave()
        await station.on_badge(REFERENT_BADGE)  # the light cleaning between patients starts...
        assert station.cabin.state is S.CLEANING
        await send(station, StopState(open=False))  # ...and the stop closes: the full one replaces it
        assert station.cabin.state is S.AWAITING_CLEANING and station.cabin.cleaning is None
        assert station.staff_desk.protocol_due() is station.config.closing_cleaning
        await station.on_badge(REFERENT_BADGE)
        view = await crew.kiosk.wait_state("cleaning")
        closing = station.config.closing_cleaning
        assert closing is not None and [s["id"] for s in view["cleaning"]["steps"]] == [s.id for s in closing.steps]


async def test_the_touchscreen_on_board_is_the_waiting_rooms_display_by_numbers_only(tmp_path: Path) -> None:
    async with vehicle(tmp_path / "state") as (station, _), chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        errors = collect_errors(page)
        await in_state(page, "closed")
        assert await page.inner_text("#state-title") != "Salle d'attente"
        await send(station, StopState(open=True, place=SANCOINS))
        await send(station, QueueBoard(called=None, waiting=(12, 13)))
        await page.wait_for_selector("#board-waiting li[data-ticket='13']", timeout=BROWSER_MS)
        assert await page.inner_text("#state-title") == "Salle d'attente"
        assert await page.inner_text("#board-called") == "Merci de patienter : votre numéro s'affichera ici."

        await send(station, CallPatient(visit="v12", ticket=12, code=await booked(station)))
        await send(station, QueueBoard(called=12, waiting=(13, 14)))
        await in_state(page, "waiting_for_doctor")
        await page.wait_for_selector("#board-called[data-ticket='12']", timeout=BROWSER_MS)
        assert await page.inner_text("#board-called") == "N° 12 — entrez"
        assert [await li.inner_text() for li in await page.query_selector_all("#board-waiting li")] == [
            "N° 13", "N° 14"]
        assert ADULT.patient_name not in await page.inner_text("body")
        assert await page.query_selector_all("[data-action]") == []  # nothing to touch: no keypad, no consent
        assert await page.is_hidden("#call")
        await shot(page, tmp_path, "on-board-board-fr")
        await page.click("#language")
        await page.wait_for_selector("#board-called:has-text('No. 12, please come in')", timeout=BROWSER_MS)
        await shot(page, tmp_path, "on-board-board-en")

        await station.patient_desk.leave()  # the referent's screens are the usual ones
        await in_state(page, "awaiting_cleaning")
        assert await page.query_selector("#board-called") is None
        assert await page.inner_text("#state-title") == "Cabin being cleaned"
        assert await missing_texts(page) == []
        assert errors == []


async def test_the_gp_in_the_vehicle_greets_the_called_patient_and_prescribes_at_the_stops_place(
        tmp_path: Path) -> None:
    async with vehicle(tmp_path / "state") as (station, _):
        assert station.rig is not None
        await send(station, StopState(open=True, place="Sancoins, devant la mairie"))
        await send(station, CallPatient(visit="v1", ticket=1, code=await booked(station)))
        gp, _ = await gp_joins(station)
        joined = await _until(gp, lambda m: m["type"] == "joined")
        assert joined["patient"]["name"] == ADULT.patient_name  # over the control channel, as in a cabin
        await gp.send(encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION]))
        number = await _number(gp)
        assert (await _until(gp, lambda m: m["type"] == "print_status"))["printed"]
        [receipt] = station.rig.printer.decoded
        text = " ".join(receipt.text.split())
        assert f"N° {number}" in text and "Ordonnance Cabinet" in text and "établie par téléconsultation" not in text
        assert "Cabinet médical mobile du Cher Sancoins, devant la mairie, le 07/12/2026 à 09:" in text

        await gp.send(encode("end"))  # no kiosk to leave from: printed, the patient goes
        assert (await _until(gp, lambda m: m["type"] == "ended"))["state"] == "awaiting_cleaning"
        assert station.cabin.state is S.AWAITING_CLEANING and station.cabin.consultation is None


async def test_the_place_of_consultation_is_the_stops_named_by_the_hub_else_the_programmes(tmp_path: Path) -> None:
    async with vehicle(tmp_path / "state") as (station, _):
        gate = station.gate
        assert gate is not None
        assert gate.place_of(MONDAY) == SANCOINS  # nothing said yet: the programme's stop of the day
        await send(station, StopState(open=True, place="Sancoins, devant la mairie"))
        assert gate.place_of(MONDAY) == "Sancoins, devant la mairie"
        assert gate.place_of(date(2026, 12, 8)) == "Lignières, parking de la salle des fêtes"
        assert gate.place_of(date(2026, 12, 9)) is None
        await send(station, StopState(open=False))
        assert gate.place_of(MONDAY) == SANCOINS


def test_the_packaged_on_board_configuration_passes_check_config_and_needs_its_closing_cleaning(
        tmp_path: Path) -> None:
    done = cabin("check-config", str(VEHICLE))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"{VEHICLE}: OK (station vehicle-cher-1, site CHR180 Cabinet médical mobile du Cher, "
                           "5 devices, 3 cleaning steps, on board, 5 closing cleaning steps)\n")
    text = VEHICLE.read_text(encoding="utf-8")
    without = tmp_path / "vehicle.toml"
    without.write_text(text[:text.index("\n[closing_cleaning]\n")] + text[text.index("\n[mobile]\n"):], encoding="utf-8")
    line = refused(cabin("check-config", str(without)))
    assert "needs [closing_cleaning], the full protocol at the end of each stop" in line


async def test_a_booking_whose_slot_has_passed_is_kept_on_board_until_the_end_of_its_day(tmp_path: Path) -> None:
    assert end_of_day(at(MONDAY, "23:59"), PARIS) == at(date(2026, 12, 8), "00:00")
    assert end_of_day(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), PARIS) == datetime(2026, 3, 30, tzinfo=PARIS)
    async with vehicle(tmp_path / "state") as (station, _):
        await send(station, StopState(open=True))
        code = new_code()  # booked for 08:30: its check-in window closed at 08:40, well before 09:20
        await station.book.add(replace(ADULT, code=code, slot_start=at(MONDAY, "08:30")))
        assert await station.book.delete_no_shows() == 0
        assert await send(station, CallPatient(visit="v1", ticket=1, code=code)) == CallAnswer(visit="v1",
                                                                                               accepted=True)
