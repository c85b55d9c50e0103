"""Printing on a running station: what the GP and the patient are told, reprint, and the end of a consultation."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from config.loader import load_config
from config.schema import CabinConfig
from printer.jobs import JobStatus
from protocol.versioned import encode
from session.appointments import Appointment
from session.channel import LocalChannel
from sim.crew import SimCrew
from sim.seed import DEMO_GP
from station.compose import Station
from tests.conftest import eventually, running_station
from tests.test_cabin_flows import gp_joins

MEDICATION = {"name": "Paracétamol 1 g", "dosage": "1 comprimé 3 fois par jour", "duration": "5 jours",
              "quantity": "1 boîte"}


async def _consultation(station: Station, crew: SimCrew, code: str) -> tuple[LocalChannel, str]:
    """A patient checks in with `code` and a GP joins; returns the GP's channel and the session."""
    await station.book.add(Appointment(
        code=code, patient_name="Zoé Noël", birth_date=date(1980, 5, 4), sex="F",
        slot_start=station.clock.now() + timedelta(minutes=2), slot_minutes=20,
        site=station.config.station.site, gp=DEMO_GP.name,
    ))
    await crew.kiosk.post("/api/checkin", {"code": code})
    await crew.kiosk.post("/api/identity", {"confirm": True})
    await crew.kiosk.post("/api/consent", {"accepted": True})
    gp, session = await gp_joins(station)
    await _until(gp, lambda m: m["type"] == "joined")
    return gp, session


async def _until(gp: LocalChannel, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await gp.recv())
        if accept(message):
            return message


def _printed_numbers(station: Station) -> list[str]:
    assert station.rig is not None
    return [qr.payload for receipt in station.rig.printer.decoded for qr in receipt.qr_codes]


async def test_paper_out_is_told_to_the_gp_and_the_patient_and_a_reprint_prints_once(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        assert station.rig is not None
        printer = station.rig.printer
        printer.paper_out = True
        gp, _ = await _consultation(station, crew, "PRSC2222")
        await gp.send(encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION], examinations=["NFS"]))
        number = (await _until(gp, lambda m: m["type"] == "ack" and m.get("ref") == "prescribe"))["number"]
        status = await _until(gp, lambda m: m["type"] == "print_status")
        assert (status["number"], status["printed"], status["error"]) == (number, False, "paper out")
        view = await crew.kiosk.current()
        assert [(p["printed"], p["error"]) for p in view["session"]["prints"]] == [(False, "paper out")]
        assert list(printer.receipts) == [] and printer.held == b""  # nothing was sent into the empty printer
        printer.paper_out = False  # a new roll
        await gp.send(encode("reprint", job=status["job"]))
        again = await _until(gp, lambda m: m["type"] == "print_status" and m["job"] != status["job"])
        assert again["printed"] and again["error"] is None
        assert _printed_numbers(station) == [number, number]  # the medication and the examinations, once each
        view = await crew.kiosk.current()
        assert [p["printed"] for p in view["session"]["prints"]] == [False, True]


def _slow_printer(config: CabinConfig) -> CabinConfig:
    """A printer timeout of 500 clock seconds: half a real second at the tests' x1000 clock."""
    return config.model_copy(update={"printer": config.printer.model_copy(update={"timeout_s": 500.0})})


async def test_a_job_pending_when_the_consultation_ends_never_prints_later(state_dir: Path) -> None:
    async with running_station(state_dir, _slow_printer(load_config())) as (station, crew):
        assert station.rig is not None
        printer = station.rig.printer
        printer.answers_left = 0  # the printer hangs: the status check before the job waits
        gp, session = await _consultation(station, crew, "PRSC3333")
        await gp.send(encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION]))
        first = (await _until(gp, lambda m: m["type"] == "ack" and m.get("ref") == "prescribe"))["number"]
        jobs = station.printer.jobs
        await eventually(lambda: printer.status_queries > 0)
        job = await jobs.latest()
        assert job is not None and job.session_id == session
        assert job.status is JobStatus.PENDING
        await gp.send(encode("end"))
        await crew.kiosk.wait_state("awaiting_cleaning")
        assert (await jobs.get(job.id)).status is JobStatus.CANCELLED
        # the status check gives up (the GP has gone: the outcome reaches no one), the job stays cancelled
        await eventually(lambda: not any(t.get_name() == "gp-desk-print" for t in asyncio.all_tasks()))
        printer.answers_left = None  # the printer answers again
        await crew.clean()
        gp2, _ = await _consultation(station, crew, "PRSC4444")
        await gp2.send(encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION]))
        second = (await _until(gp2, lambda m: m["type"] == "ack" and m.get("ref") == "prescribe"))["number"]
        assert (await _until(gp2, lambda m: m["type"] == "print_status"))["printed"]
        assert second != first and _printed_numbers(station) == [second]
        assert (await jobs.get(job.id)).status is JobStatus.CANCELLED


async def _reply(gp: LocalChannel) -> dict[str, Any]:
    """The cabin's answer to a request: an ack or an error (other news is skipped)."""
    return await _until(gp, lambda m: m["type"] in ("ack", "error"))


async def _number(gp: LocalChannel) -> str:
    """The number in the cabin's ack of a prescription (an error fails the test at once)."""
    reply = await _reply(gp)
    assert (reply["type"], reply.get("ref")) == ("ack", "prescribe"), reply
    number: str = reply["number"]
    return number


async def _printed_audits(station: Station, session: str) -> int:
    return sum(1 for e in await station.audit.entries() if e.session == session and e.event == "prescription_printed")


async def test_the_same_prescription_id_sent_twice_prints_once_and_answers_the_same_number(state_dir: Path) -> None:
    """A console that resends after a reconnect keeps the id: the cabin answers, the printer stays still."""
    async with running_station(state_dir) as (station, crew):
        gp, session = await _consultation(station, crew, "44444444")
        prescribe = encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION])
        await gp.send(prescribe)
        await gp.send(prescribe)  # the retry overtakes the first print
        number = await _number(gp)
        assert await _number(gp) == number
        assert (await _until(gp, lambda m: m["type"] == "print_status"))["printed"]
        await gp.send(prescribe)  # and once it has printed
        assert await _number(gp) == number
        again = await _until(gp, lambda m: m["type"] == "print_status")
        assert (again["number"], again["printed"]) == (number, True)  # the same job, told again
        await eventually(lambda: not any(t.get_name() == "gp-desk-print" for t in asyncio.all_tasks()))
        assert _printed_numbers(station) == [number]
        job = await station.printer.jobs.latest()
        assert job is not None and job.id == again["job"] and job.status is JobStatus.PRINTED
        assert await _printed_audits(station, session) == 1
        view = await crew.kiosk.current()
        assert [p["printed"] for p in view["session"]["prints"]] == [True]


async def test_a_second_prescription_prints_only_with_the_gps_confirmation(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        gp, session = await _consultation(station, crew, "55555555")
        await gp.send(encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION]))
        first = await _number(gp)
        printed = await _until(gp, lambda m: m["type"] == "print_status")
        assert printed["printed"]
        second = {"id": str(uuid.uuid4()), "medications": [{**MEDICATION, "quantity": "2 boîtes"}]}
        await gp.send(encode("prescribe", **second))
        refusal = await _reply(gp)
        assert (refusal["type"], refusal["code"], refusal["number"]) == ("error", "additional_prescription", first)
        latest = await station.printer.jobs.latest()
        assert _printed_numbers(station) == [first] and latest is not None and latest.id == printed["job"]
        await gp.send(encode("prescribe", **second, confirm_additional=True))
        ack = await _reply(gp)
        assert ack["type"] == "ack" and ack["id"] == second["id"] and ack["number"] != first
        status = await _until(gp, lambda m: m["type"] == "print_status")
        assert (status["number"], status["printed"]) == (ack["number"], True)
        assert _printed_numbers(station) == [first, ack["number"]]  # the refused request printed nothing
        assert await _printed_audits(station, session) == 2


async def test_an_id_already_used_for_another_prescription_is_refused(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        gp, _ = await _consultation(station, crew, "66666666")
        ident = str(uuid.uuid4())
        await gp.send(encode("prescribe", id=ident, medications=[MEDICATION]))
        first = await _number(gp)
        assert (await _until(gp, lambda m: m["type"] == "print_status"))["printed"]
        await gp.send(encode("prescribe", id=ident, medications=[MEDICATION], referral="Cardiologue",
                             confirm_additional=True))
        refusal = await _reply(gp)
        assert (refusal["type"], refusal["code"]) == ("error", "prescription_id_reused")
        assert _printed_numbers(station) == [first]


async def test_a_resent_prescription_whose_print_failed_prints_once_the_printer_is_back(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        assert station.rig is not None
        printer = station.rig.printer
        printer.paper_out = True
        gp, _ = await _consultation(station, crew, "77777777")
        prescribe = encode("prescribe", id=str(uuid.uuid4()), medications=[MEDICATION])
        await gp.send(prescribe)
        number = await _number(gp)
        failed = await _until(gp, lambda m: m["type"] == "print_status")
        assert (failed["printed"], failed["error"]) == (False, "paper out")
        printer.paper_out = False
        await gp.send(prescribe)  # the console never heard: it resends the same prescription
        assert await _number(gp) == number
        status = await _until(gp, lambda m: m["type"] == "print_status")
        assert (status["number"], status["printed"]) == (number, True) and status["job"] != failed["job"]
        await gp.send(prescribe)
        assert await _number(gp) == number
        assert (await _until(gp, lambda m: m["type"] == "print_status"))["job"] == status["job"]
        assert _printed_numbers(station) == [number]
