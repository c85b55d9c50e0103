"""Printing a prescription exactly once: check the printer, record, send, check again.

One job at a time (a lock): the record is written before the first byte goes out, the
status is checked before (never send into a printer with no paper or an open cover) and
after (paper that ran out mid-job means a truncated prescription), and a job is never sent
twice by itself: a second request for the same prescription returns the first job's result.
When bytes went out but the printer never acknowledged them (connection lost, task
cancelled), the job is `uncertain`, like after a crash: a person says whether it printed.

A printer stopped mid-job keeps the rest of the job in its buffer and would print it once
the paper is changed; so a job that failed midway is only `failed` (reprintable) once the
printer confirmed clearing its buffers (DLE DC4 fn=8), and `uncertain` otherwise.
Errors are reported in fixed English sentences (the GP console translates them) with a
stable `reason` code for screens.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from config.schema import PrinterConfig
from printer.document import Prescription
from printer.errors import PrinterError, PrinterUnreachableError, TransportError
from printer.jobs import JobStatus, PrintJob, PrintJobs
from printer.layout import LayoutOptions, layout_options, render_prescription
from printer.status import PROBLEMS, PrinterStatus
from printer.transport import PrinterTransport
from runtime.clock import Clock
from runtime.storage import Database

log = logging.getLogger(__name__)

PAPER_LOW = "paper low"
UNREACHABLE = PROBLEMS["unreachable"]
CONNECTION_LOST = "connection to the printer lost during printing; check the printer"
INTERRUPTED = "printing was interrupted; check the printer before reprinting"
UNCERTAIN = "uncertain"  # reason code: it may have printed; a person must look
DURING: dict[str, str] = {
    "unreachable": "printer stopped answering during printing; check the printer",
    "paper_out": "paper ran out during printing",
    "cover_open": "cover opened during printing",
    "printer_error": "printer error during printing",
    "printer_offline": "printer went offline during printing",
}
_REASON_OF = {text: code for table in (PROBLEMS, DURING) for code, text in table.items()}


@dataclass(frozen=True)
class PrintOutcome:
    """What became of a print request, for the GP console and the patient's screen."""

    job_id: int
    printed: bool
    bytes_sent: int
    error: str | None = None
    warning: str | None = None
    reason: str | None = None  # a stable code: unreachable, paper_out, cover_open, ..., uncertain


@dataclass(frozen=True)
class PrinterHealth:
    """The printer as the technician's screen shows it: its status now and the last job."""

    status: PrinterStatus
    last_job: PrintJob | None

    def to_json(self) -> dict[str, object]:
        """Plain JSON; the last job without its session id or number."""
        job = self.last_job
        return {
            "status": self.status.to_json(),
            "last_job": None if job is None else {
                "id": job.id, "status": job.status.value, "reason": job.reason, "bytes": job.size,
                "at": job.updated_at.isoformat(),
            },
        }


def problem_after(status: PrinterStatus) -> str | None:
    """The reason code of what went wrong while the job printed, judged from the status read after it."""
    if not status.reachable:
        return "unreachable"
    if not status.supported:
        return None
    return status.problem_code


def outcome_of(job: PrintJob) -> PrintOutcome:
    """The outcome to report for a job that already exists (no new attempt)."""
    if job.status is JobStatus.PRINTED:
        return PrintOutcome(job.id, printed=True, bytes_sent=job.size)
    if job.status is JobStatus.UNCERTAIN:
        return PrintOutcome(job.id, printed=False, bytes_sent=0, error=INTERRUPTED, reason=UNCERTAIN)
    error = job.reason or f"print job is {job.status}"
    return PrintOutcome(job.id, printed=False, bytes_sent=0, error=error, reason=_REASON_OF.get(error, job.status))


class PrintService:
    """Prints prescriptions for the consultation and keeps the durable job records."""

    def __init__(self, db: Database, transport: PrinterTransport, config: PrinterConfig, clock: Clock) -> None:
        self._transport = transport
        self._config = config
        self._clock = clock
        self.jobs = PrintJobs(db, clock)
        self._lock = asyncio.Lock()
        self._options: LayoutOptions | None = None
        self._running = False

    async def start(self) -> None:
        """Check the layout settings, create the job table, settle jobs a crash left behind."""
        if self._running:
            return
        self._options = layout_options(self._config)  # a bad profile or code page stops the start
        await self.jobs.start()
        await self.jobs.recover()
        self._running = True

    async def stop(self) -> None:
        """Refuse new print requests; safe to call twice."""
        self._running = False

    def _layout(self) -> LayoutOptions:
        if not self._running or self._options is None:
            raise PrinterError("the print service is not running")
        return self._options

    async def health(self) -> PrinterHealth:
        """The printer's status and the last job, for the technician's screen."""
        return PrinterHealth(await self._transport.status(), await self.jobs.latest())

    async def status(self) -> PrinterStatus:
        """The printer's status now, asked between jobs: never on a second connection while one prints."""
        async with self._lock:
            return await self._transport.status()

    async def print_prescription(self, session_id: str, prescription: Prescription) -> PrintOutcome:
        """Print `prescription` for `session_id` once; a repeated request reports the first job."""
        options = self._layout()
        payload = await asyncio.to_thread(render_prescription, prescription, options)
        async with self._lock:
            live = await self.jobs.live_job(session_id, prescription.number)
            if live is not None:
                log.info("session %s: prescription already has job %s", session_id, live.id)
                return outcome_of(live)
            job = await self.jobs.record(session_id, prescription.number, payload)
            return await self._run(job)

    async def reprint(self, job_id: int, session_id: str) -> PrintOutcome:
        """Explicitly print again a failed job of the same session."""
        self._layout()
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
        if before.problem_code is not None:
            error = PROBLEMS[before.problem_code]
            await self.jobs.mark_failed(job.id, error)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=error, reason=before.problem_code)
        payload = await self.jobs.payload(job.id)
        await self.jobs.mark_sending(job.id)
        failure = await self._send(job, payload)
        if failure is not None:
            return failure
        after = await self._transport.status()
        code = problem_after(after)
        if code is not None:
            return await self._failed_midway(job, code, len(payload))
        await self.jobs.mark_printed(job.id)
        warning = PAPER_LOW if after.paper_near_end else None
        if warning:
            log.warning("session %s: printer paper is low", job.session_id)
        return PrintOutcome(job.id, printed=True, bytes_sent=len(payload), warning=warning)

    async def _failed_midway(self, job: PrintJob, code: str, sent: int) -> PrintOutcome:
        """The printer took the job, then reported a fault: failed once its buffer is cleared."""
        error = DURING[code]
        # Silent after taking every byte: it most likely printed. Do not guess.
        if code != "unreachable" and await self._transport.clear_buffers():
            await self.jobs.mark_failed(job.id, error)
            return PrintOutcome(job.id, printed=False, bytes_sent=sent, error=error, reason=code)
        log.warning("session %s: print job %s: %s; the rest may still print", job.session_id, job.id, error)
        await self.jobs.mark_uncertain(job.id, error)
        return PrintOutcome(job.id, printed=False, bytes_sent=sent, error=error, reason=UNCERTAIN)

    async def _send(self, job: PrintJob, payload: bytes) -> PrintOutcome | None:
        """Send the payload; None when the printer took it all, else the settled outcome."""
        try:
            await self._transport.send(payload)
        except PrinterUnreachableError as exc:
            # No connection, so not one byte went out: a plain failure, safe to reprint.
            log.warning("session %s: print job %s: %s", job.session_id, job.id, exc)
            await self.jobs.mark_failed(job.id, UNREACHABLE)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=UNREACHABLE, reason="unreachable")
        except TransportError as exc:
            # Bytes went out but were not acknowledged: it may have printed, like a crash.
            log.warning("session %s: print job %s: %s", job.session_id, job.id, exc)
            await self.jobs.mark_uncertain(job.id, CONNECTION_LOST)
            return PrintOutcome(job.id, printed=False, bytes_sent=0, error=CONNECTION_LOST, reason=UNCERTAIN)
        return None
