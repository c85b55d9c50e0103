"""Printing a prescription exactly once: check the printer, record, send, check again.

One job at a time (a lock): the record is written before the first byte goes out, the
status is checked before (never send into a printer with no paper or an open cover) and
after (paper that ran out mid-job means a truncated prescription), and a job is never sent
twice by itself: a second request for the same prescription returns the first job's result.
When bytes went out but the printer never acknowledged them (connection lost, task
cancelled), the job is `uncertain`, like after a crash: a person says whether it printed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from config.clock import Clock
from config.schema import PrinterConfig
from config.storage import Database
from printer.document import Prescription
from printer.errors import PrinterError, TransportError
from printer.jobs import JobStatus, PrintJob, PrintJobs
from printer.layout import layout_options, render_prescription
from printer.transport import PrinterStatus, PrinterTransport, PrinterUnreachableError

log = logging.getLogger(__name__)

PAPER_LOW = "paper low"
UNREACHABLE = "printer unreachable"
CONNECTION_LOST = "connection to the printer lost during printing; check the printer"


@dataclass(frozen=True)
class PrintOutcome:
    """What became of a print request, for the GP console and the patient's screen."""

    job_id: int
    printed: bool
    bytes_sent: int
    error: str | None = None
    warning: str | None = None


def problem_after(status: PrinterStatus) -> str | None:
    """What went wrong while the job was printing, judged from the status read after it."""
    if not status.reachable:
        return "printer stopped answering during printing; check the printer"
    if not status.supported:
        return None
    if status.paper_end:
        return "paper ran out during printing"
    if status.cover_open:
        return "cover opened during printing"
    if status.error:
        return "printer error during printing"
    if not status.online:
        return "printer went offline during printing"
    return None


def outcome_of(job: PrintJob) -> PrintOutcome:
    """The outcome to report for a job that already exists (no new attempt)."""
    if job.status is JobStatus.PRINTED:
        return PrintOutcome(job.id, printed=True, bytes_sent=job.size)
    if job.status is JobStatus.UNCERTAIN:
        error = "printing was interrupted; check the printer before reprinting"
        return PrintOutcome(job.id, printed=False, bytes_sent=0, error=error)
    error = job.reason or f"print job is {job.status}"
    return PrintOutcome(job.id, printed=False, bytes_sent=0, error=error)


class PrintService:
    """Prints prescriptions for the consultation and keeps the durable job records."""

    def __init__(
        self, db: Database, transport: PrinterTransport, config: PrinterConfig, clock: Clock
    ) -> None:
        self._transport = transport
        self._config = config
        self._clock = clock
        self.jobs = PrintJobs(db, clock)
        self._lock = asyncio.Lock()
        self._running = False

    async def start(self) -> None:
        """Check the layout settings, create the job table, settle jobs a crash left behind."""
        layout_options(self._config)  # a bad profile or code page stops the start, not a print
        await self.jobs.start()
        await self.jobs.recover()
        self._running = True

    async def stop(self) -> None:
        """Refuse new print requests; safe to call twice."""
        self._running = False

    def _check_running(self) -> None:
        if not self._running:
            raise PrinterError("the print service is not running")

    async def printer_status(self) -> PrinterStatus:
        """The printer's real-time status, for the technician's screen."""
        return await self._transport.status()

    async def print_prescription(self, session_id: str, prescription: Prescription) -> PrintOutcome:
        """Print `prescription` for `session_id` once; a repeated request reports the first job."""
        self._check_running()
        payload = render_prescription(prescription, self._config)
        async with self._lock:
            live = await self.jobs.live_job(session_id, prescription.number)
            if live is not None:
                log.info("session %s: prescription already has job %s", session_id, live.id)
                return outcome_of(live)
            job = await self.jobs.record(session_id, prescription.number, payload)
            return await self._run(job)

    async def reprint(self, job_id: int, session_id: str) -> PrintOutcome:
        """Explicitly print again a failed job of the same session."""
        self._check_running()
        async with self._lock:
            job = await self.jobs.reprint(job_id, session_id)
            return await self._run(job)

    async def confirm_uncertain(self, job_id: int, session_id: str, printed: bool) -> PrintOutcome:
        """Record what a person saw at the printer for an uncertain job (failed ones reprint)."""
        job = await self.jobs.confirm_uncertain(job_id, session_id, printed)
        return outcome_of(job)

    async def cancel_session(self, session_id: str) -> int:
        """The session is over: nothing of it prints any more (see PrintJobs.cancel_session)."""
        return await self.jobs.cancel_session(session_id)

    async def _run(self, job: PrintJob) -> PrintOutcome:
        """Attempt a pending job; if the caller is cancelled, leave the job settled, not pending."""
        try:
            return await self._attempt(job)
        except asyncio.CancelledError:
            await asyncio.shield(self._settle_cancelled(job.id))
            raise

    async def _settle_cancelled(self, job_id: int) -> None:
        """Cancelled before sending: failed; while sending: uncertain (bytes may be out)."""
        job = await self.jobs.get(job_id)
        if job.status is JobStatus.PENDING:
            await self.jobs.mark_failed(job_id, "printing was cancelled before sending")
        elif job.status is JobStatus.SENDING:
            await self.jobs.mark_uncertain(job_id, "printing was cancelled while sending")

    async def _attempt(self, job: PrintJob) -> PrintOutcome:
        """Take a pending job through status check, sending and the check after."""
        before = await self._transport.status()
        if before.problem is not None:
            await self.jobs.mark_failed(job.id, before.problem)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=before.problem)
        payload = await self.jobs.payload(job.id)
        await self.jobs.mark_sending(job.id)
        failure = await self._send(job, payload)
        if failure is not None:
            return failure
        after = await self._transport.status()
        error = problem_after(after)
        if error is not None and not after.reachable:
            # It took every byte, then went quiet: it most likely printed. Do not guess.
            await self.jobs.mark_uncertain(job.id, error)
            return PrintOutcome(job.id, printed=False, bytes_sent=len(payload), error=error)
        if error is not None:
            await self.jobs.mark_failed(job.id, error)
            return PrintOutcome(job.id, printed=False, bytes_sent=len(payload), error=error)
        await self.jobs.mark_printed(job.id)
        warning = PAPER_LOW if after.paper_near_end else None
        if warning:
            log.warning("session %s: printer paper is low", job.session_id)
        return PrintOutcome(job.id, printed=True, bytes_sent=len(payload), warning=warning)

    async def _send(self, job: PrintJob, payload: bytes) -> PrintOutcome | None:
        """Send the payload; None when the printer took it all, else the settled outcome."""
        try:
            await self._transport.send(payload)
        except PrinterUnreachableError as exc:
            # No connection, so not one byte went out: a plain failure, safe to reprint.
            log.warning("session %s: print job %s: %s", job.session_id, job.id, exc)
            await self.jobs.mark_failed(job.id, UNREACHABLE)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=UNREACHABLE)
        except TransportError as exc:
            # Bytes went out but were not acknowledged: it may have printed, like a crash.
            log.warning("session %s: print job %s: %s", job.session_id, job.id, exc)
            await self.jobs.mark_uncertain(job.id, CONNECTION_LOST)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=CONNECTION_LOST)
        return None
