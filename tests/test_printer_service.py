"""The print service end to end over real TCP against the simulated receipt printer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from config.schema import PrinterConfig
from printer.errors import JobError, PrinterError
from printer.jobs import JobStatus
from printer.layout import render_documents, render_prescription
from printer.service import PrintService
from printer.transport import FileTransport, NetworkTransport, make_transport
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from sim.printer import SimPrinter
from tests.test_printer_document import sample_prescription

START = datetime(2025, 1, 14, 10, 30, tzinfo=PARIS)


@pytest.fixture
async def sim() -> AsyncIterator[SimPrinter]:
    printer = SimPrinter()
    await printer.start()
    yield printer
    await printer.stop()


def _service(db: Database, port: int, timeout_s: float = 2.0) -> PrintService:
    cfg = PrinterConfig(port=port, timeout_s=timeout_s)
    clock = Clock(start=START)
    return PrintService(db, make_transport(cfg, clock), cfg, clock)


@pytest.fixture
async def service(db: Database, sim: SimPrinter) -> AsyncIterator[PrintService]:
    svc = _service(db, sim.port)
    await svc.start()
    yield svc
    await svc.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_round_trip_prints_once_with_accents_and_qr(
    service: PrintService, sim: SimPrinter
) -> None:
    rx = sample_prescription()
    outcome = await service.print_prescription("s1", rx)
    assert outcome.printed and outcome.error is None and outcome.warning is None and outcome.reason is None
    assert list(sim.receipts) == render_documents(rx, PrinterConfig())
    assert outcome.bytes_sent == sum(len(r) for r in sim.receipts)
    for receipt in sim.decoded:
        assert "Dr Hélène Lefèvre" in receipt.text and "Patiente : Françoise Bérénice Dupré" in receipt.text
        assert "établie par téléconsultation" in " ".join(receipt.text.split())
        assert [qr.payload for qr in receipt.qr_codes] == [rx.number]
    assert (await service.jobs.get(outcome.job_id)).status is JobStatus.PRINTED
    health = (await service.health()).to_json()
    assert health["status"] == {"reachable": True, "online": True, "cover_open": False, "paper_near_end": False,
                                "paper_end": False, "error": False, "supported": True, "problem": None}
    last_job = health["last_job"]
    assert isinstance(last_job, dict) and str(last_job.pop("at")).startswith("2025-01-14T09:30:")
    assert last_job == {"id": outcome.job_id, "status": "printed", "reason": None, "bytes": outcome.bytes_sent}


async def test_a_repeated_request_does_not_print_again(
    service: PrintService, sim: SimPrinter
) -> None:
    rx = sample_prescription()
    first = await service.print_prescription("s1", rx)
    again = await service.print_prescription("s1", rx)
    assert again == first
    assert len(sim.receipts) == 3


@pytest.mark.parametrize(
    ("switch", "error"),
    [("paper_out", "paper out"), ("cover_open", "cover open"), ("offline", "printer offline"),
     ("error", "printer error")],
)
async def test_fault_before_the_job_refuses_to_send(
    service: PrintService, sim: SimPrinter, switch: str, error: str
) -> None:
    setattr(sim, switch, True)
    outcome = await service.print_prescription("s1", sample_prescription())
    assert not outcome.printed and outcome.error == error and outcome.bytes_sent == 0
    assert outcome.reason == {"paper_out": "paper_out", "cover_open": "cover_open", "offline": "printer_offline",
                              "error": "printer_error"}[switch]
    assert list(sim.receipts) == [] and sim.partials == [] and sim.held == b""
    job = await service.jobs.get(outcome.job_id)
    assert job.status is JobStatus.FAILED and job.reason == error


async def test_unreachable_printer(db: Database) -> None:
    svc = _service(db, _closed_port())
    await svc.start()
    outcome = await svc.print_prescription("s1", sample_prescription())
    assert not outcome.printed and outcome.error == "printer unreachable"
    assert (await svc.jobs.get(outcome.job_id)).status is JobStatus.FAILED


async def test_a_printer_that_never_answers_is_unreachable(db: Database, sim: SimPrinter) -> None:
    sim.silent = True
    svc = _service(db, sim.port, timeout_s=0.2)
    await svc.start()
    outcome = await svc.print_prescription("s1", sample_prescription())
    assert outcome.error == "printer unreachable" and list(sim.receipts) == []


async def test_paper_running_out_mid_job_fails_the_job_and_clears_the_printer(
    service: PrintService, sim: SimPrinter
) -> None:
    sim.paper_remaining = 1200  # the roll ends in the second document
    rx = sample_prescription()
    outcome = await service.print_prescription("s1", rx)
    assert not outcome.printed and outcome.error == "paper ran out during printing"
    assert outcome.reason == "paper_out" and outcome.bytes_sent > 1200
    assert len(sim.receipts) == 1 and len(sim.partials) == 1  # one whole document, one torn
    assert sim.buffer_clears == 1 and sim.held == b""
    assert (await service.jobs.get(outcome.job_id)).status is JobStatus.FAILED
    sim.paper_remaining, sim.paper_out = None, False  # the technician loads a new roll
    assert len(sim.receipts) == 1  # the rest of the job did not come out by itself
    again = await service.reprint(outcome.job_id, "s1")
    assert again.printed and len(sim.receipts) == 4


class _NoClearTransport(NetworkTransport):
    """A printer that does not know DLE DC4 fn=8 (many clones)."""

    async def clear_buffers(self) -> bool:
        return False


async def test_a_printer_that_cannot_clear_its_buffer_leaves_the_job_uncertain(
    db: Database, sim: SimPrinter
) -> None:
    cfg = PrinterConfig(port=sim.port, timeout_s=2.0)
    svc = PrintService(db, _NoClearTransport("127.0.0.1", sim.port, 2.0), cfg, Clock(start=START))
    await svc.start()
    sim.cover_open, sim.answers_left = False, None
    sim.paper_remaining = 300
    outcome = await svc.print_prescription("s1", sample_prescription())
    assert outcome.error == "paper ran out during printing" and outcome.reason == "uncertain"
    assert (await svc.jobs.get(outcome.job_id)).status is JobStatus.UNCERTAIN
    with pytest.raises(JobError, match="only failed jobs"):
        await svc.reprint(outcome.job_id, "s1")
    sim.paper_remaining, sim.paper_out = None, False
    assert len(sim.receipts) == 3  # the rest printed once the paper was loaded: a reprint would duplicate


async def test_explicit_reprint_after_failure_prints_exactly_once(
    service: PrintService, sim: SimPrinter
) -> None:
    sim.paper_out = True
    failed = await service.print_prescription("s1", sample_prescription())
    sim.paper_out = False
    with pytest.raises(JobError, match="another session"):
        await service.reprint(failed.job_id, "s2")
    outcome = await service.reprint(failed.job_id, "s1")
    assert outcome.printed and len(sim.receipts) == 3
    with pytest.raises(JobError, match="already has job"):
        await service.reprint(failed.job_id, "s1")
    assert len(sim.receipts) == 3


async def test_printer_hanging_mid_job_makes_the_job_uncertain(
    db: Database, sim: SimPrinter
) -> None:
    svc = _service(db, sim.port, timeout_s=0.3)
    await svc.start()
    sim.answers_left = 3  # the status check before the job, then silence
    rx = sample_prescription()
    outcome = await svc.print_prescription("s1", rx)
    assert not outcome.printed and outcome.error is not None
    assert outcome.error.startswith("connection to the printer lost")
    assert len(sim.receipts) == 3  # it did print: reprinting by itself would duplicate it
    assert (await svc.jobs.get(outcome.job_id)).status is JobStatus.UNCERTAIN
    sim.answers_left = None
    assert not (await svc.print_prescription("s1", rx)).printed
    assert len(sim.receipts) == 3
    settled = await svc.confirm_uncertain(outcome.job_id, "s1", printed=True)
    assert settled.printed and settled.job_id == outcome.job_id


async def test_printer_silent_after_taking_the_job_is_uncertain_not_failed(
    db: Database, sim: SimPrinter
) -> None:
    svc = _service(db, sim.port, timeout_s=0.3)
    await svc.start()
    sim.answers_left = 4  # status before, the acknowledgement of the data, then silence
    outcome = await svc.print_prescription("s1", sample_prescription())
    assert outcome.error is not None and outcome.error.startswith("printer stopped answering")
    assert (await svc.jobs.get(outcome.job_id)).status is JobStatus.UNCERTAIN
    assert len(sim.receipts) == 3


async def test_cancelled_while_sending_leaves_an_uncertain_job(
    db: Database, sim: SimPrinter
) -> None:
    svc = _service(db, sim.port, timeout_s=30)
    await svc.start()
    sim.answers_left = 3
    task = asyncio.create_task(svc.print_prescription("s1", sample_prescription()))
    async with asyncio.timeout(5):
        while (job := await svc.jobs.latest()) is None or job.status is not JobStatus.SENDING:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job = await svc.jobs.get(job.id)
    assert job.status is JobStatus.UNCERTAIN
    await svc.confirm_uncertain(job.id, "s1", printed=False)
    sim.answers_left = None
    sim.receipts.clear()
    assert (await svc.reprint(job.id, "s1")).printed and len(sim.receipts) == 3


async def test_paper_low_prints_with_a_warning(service: PrintService, sim: SimPrinter) -> None:
    sim.paper_near_end = True
    outcome = await service.print_prescription("s1", sample_prescription())
    assert outcome.printed and outcome.warning == "paper low"


async def test_crash_between_sending_and_result_is_never_resent(
    db: Database, sim: SimPrinter
) -> None:
    svc = _service(db, sim.port)
    await svc.start()
    rx = sample_prescription()
    job = await svc.jobs.record("s1", rx.number, render_prescription(rx, PrinterConfig()))
    await svc.jobs.mark_sending(job.id)  # the process dies here, bytes possibly out
    restarted = _service(db, sim.port)
    await restarted.start()  # recover()
    assert (await restarted.jobs.get(job.id)).status is JobStatus.UNCERTAIN
    outcome = await restarted.print_prescription("s1", rx)
    assert outcome.job_id == job.id and not outcome.printed and outcome.reason == "uncertain"
    assert outcome.error is not None and "check the printer" in outcome.error
    assert list(sim.receipts) == []


async def test_crash_between_recording_and_sending_never_prints_by_itself(
    db: Database, sim: SimPrinter
) -> None:
    svc = _service(db, sim.port)
    await svc.start()
    rx = sample_prescription()
    job = await svc.jobs.record("s1", rx.number, render_prescription(rx, PrinterConfig()))
    # the process dies here: the job is recorded, nothing was sent
    restarted = _service(db, sim.port)
    await restarted.start()
    await asyncio.sleep(0.05)
    assert list(sim.receipts) == [] and sim.status_queries == 0  # recovery sends nothing
    settled = await restarted.jobs.get(job.id)
    assert settled.status is JobStatus.CANCELLED and settled.reason == "station restarted before sending"
    with pytest.raises(JobError, match="has ended"):  # a late request of that consultation
        await restarted.print_prescription("s1", replace(rx, number="NAN231-20250114-LATE0000"))
    with pytest.raises(JobError, match="another session"):  # the next patient's session
        await restarted.print_prescription("s2", rx)
    assert list(sim.receipts) == []


async def test_cancelled_session_never_prints(service: PrintService, sim: SimPrinter) -> None:
    sim.paper_out = True
    rx = sample_prescription()
    failed = await service.print_prescription("s1", rx)
    assert await service.cancel_session("s1") == 1
    sim.paper_out = False
    with pytest.raises(JobError, match="has ended"):
        await service.reprint(failed.job_id, "s1")
    with pytest.raises(JobError, match="has ended"):
        await service.print_prescription("s1", rx)
    with pytest.raises(JobError, match="another session"):
        await service.print_prescription("s2", rx)
    next_patient = replace(rx, number="NAN231-20250114-NEXT0000")
    assert (await service.print_prescription("s2", next_patient)).printed
    assert {qr.payload for r in sim.decoded for qr in r.qr_codes} == {"NAN231-20250114-NEXT0000"}
    assert len(sim.receipts) == 3


async def test_stopped_service_refuses_and_stop_is_idempotent(service: PrintService) -> None:
    await service.stop()
    await service.stop()
    with pytest.raises(PrinterError, match="not running"):
        await service.print_prescription("s1", sample_prescription())


async def test_bad_layout_settings_stop_the_start(db: Database, sim: SimPrinter) -> None:
    cfg = PrinterConfig(port=sim.port, codepage="KOI8-R")
    svc = PrintService(db, make_transport(cfg), cfg, Clock(start=START))
    with pytest.raises(PrinterError, match="codepage"):
        await svc.start()


async def test_file_backend_writes_the_bytes(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "printer.bin"
    cfg = PrinterConfig(backend="file", device=str(out))
    transport = make_transport(cfg)
    assert isinstance(transport, FileTransport)
    status = await transport.status()
    assert status.reachable and not status.supported
    svc = PrintService(db, transport, cfg, Clock(start=START))
    await svc.start()
    outcome = await svc.print_prescription("s1", sample_prescription())
    assert outcome.printed and out.read_bytes() == render_prescription(sample_prescription(), cfg)


async def test_missing_device_file_is_unreachable(db: Database) -> None:
    status = await FileTransport("/dev/no-such-printer-lp9").status()
    assert status.problem == "printer unreachable"


@pytest.mark.parametrize(("backend", "option"), [("usb", "usb_vendor"), ("serial", "device")])
def test_usb_and_serial_need_their_options(backend: str, option: str) -> None:
    with pytest.raises(PrinterError, match=rf"\[printer\] {option}"):
        make_transport(PrinterConfig(backend=backend))  # type: ignore[arg-type]


def test_file_backend_needs_a_device() -> None:
    with pytest.raises(PrinterError, match="device"):
        make_transport(PrinterConfig(backend="file"))
