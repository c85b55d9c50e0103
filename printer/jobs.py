"""Durable print jobs: recorded before any byte is sent, so a crash can never cause a duplicate.

Life of a job: pending -> sending -> printed | failed(reason). A job belongs to one session:
when the session ends its unprinted jobs become cancelled and can never print for the next
patient. A job found in `sending` after a restart may or may not have printed; it becomes
`uncertain` and is never sent again by itself: only a person who looked at the printer can
say it did not print (`confirm_uncertain`), after which an explicit `reprint` may send it.
A restart ends every consultation, so recovery also closes every session that has jobs: a
late request carrying an old session id can no longer print anything.

The payload (the rendered prescription) is health data: it is wiped when the session ends
and at the next start, leaving only the job's metadata (docs/design.md, "Data and security").
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from printer.errors import JobError
from runtime.clock import Clock
from runtime.storage import Database, transaction

log = logging.getLogger(__name__)

_COLUMNS = "id, session_id, number, size, status, reason, reprint_of, created_at, updated_at"


class JobStatus(StrEnum):
    """Where a print job is in its life."""

    PENDING = "pending"
    SENDING = "sending"
    PRINTED = "printed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"


# Jobs that printed, may have printed or may still print: a second one would be a duplicate.
LIVE = (JobStatus.PENDING, JobStatus.SENDING, JobStatus.PRINTED, JobStatus.UNCERTAIN)


@dataclass(frozen=True)
class PrintJob:
    """One print job's metadata (the payload is read separately)."""

    id: int
    session_id: str
    number: str
    size: int
    status: JobStatus
    reason: str | None
    reprint_of: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PrintJob:
        """Build a job from a row selected with the table's metadata columns."""
        id_, session, number, size, status, reason, reprint_of, created, updated = row
        return cls(
            id=id_, session_id=session, number=number, size=size, status=JobStatus(status),
            reason=reason, reprint_of=reprint_of,
            created_at=datetime.fromisoformat(created),
            updated_at=datetime.fromisoformat(updated),
        )


def _get(conn: sqlite3.Connection, job_id: int) -> PrintJob:
    row = conn.execute(f"SELECT {_COLUMNS} FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobError(f"print job {job_id} does not exist")
    return PrintJob.from_row(row)


def _live_job(conn: sqlite3.Connection, session_id: str, number: str) -> PrintJob | None:
    marks = ",".join("?" * len(LIVE))
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM print_jobs WHERE session_id = ? AND number = ?"
        f" AND status IN ({marks}) ORDER BY id DESC LIMIT 1",
        (session_id, number, *LIVE),
    ).fetchone()
    return None if row is None else PrintJob.from_row(row)


def _check_open(conn: sqlite3.Connection, session_id: str) -> None:
    closed = conn.execute(
        "SELECT 1 FROM print_closed_sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    if closed is not None:
        raise JobError(f"session {session_id} has ended; nothing more prints for it")


class PrintJobs:
    """The print_jobs table in the station database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def start(self) -> None:
        """Nothing to prepare: the tables come with the schema (runtime.schema)."""

    async def stop(self) -> None:
        """Nothing to release: the database belongs to the station."""

    def _now(self) -> str:
        # UTC text compares in time order, whatever the site's daylight-saving offset.
        return self._clock.now().astimezone(UTC).isoformat()

    async def get(self, job_id: int) -> PrintJob:
        """The job with id `job_id`, or JobError."""
        return await self._db.run(lambda conn: _get(conn, job_id))

    async def live_job(self, session_id: str, number: str) -> PrintJob | None:
        """The latest job of this prescription that printed, may print or may have printed."""
        return await self._db.run(lambda conn: _live_job(conn, session_id, number))

    async def payload(self, job_id: int) -> bytes:
        """The bytes to send for `job_id`; JobError once they have been wiped."""
        def query(conn: sqlite3.Connection) -> bytes:
            row = conn.execute("SELECT payload FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] is None:
                raise JobError(f"print job {job_id} has no payload any more")
            return bytes(row[0])

        return await self._db.run(query)

    async def record(
        self, session_id: str, number: str, payload: bytes, *, reprint_of: int | None = None
    ) -> PrintJob:
        """Store a new pending job durably; refuse a number that belongs to another session."""
        now = self._now()

        def insert(conn: sqlite3.Connection) -> PrintJob:
            with transaction(conn):
                _check_open(conn, session_id)
                other = conn.execute(
                    "SELECT 1 FROM print_jobs WHERE number = ? AND session_id != ? LIMIT 1",
                    (number, session_id),
                ).fetchone()
                if other is not None:
                    raise JobError(f"prescription {number} belongs to another session")
                cur = conn.execute(
                    "INSERT INTO print_jobs (session_id, number, payload, size, status,"
                    " reprint_of, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (session_id, number, payload, len(payload), reprint_of, now, now),
                )
                return _get(conn, int(cur.lastrowid or 0))

        job = await self._db.run(insert)
        log.info("session %s: print job %s recorded (%s bytes)", session_id, job.id, job.size)
        return job

    async def _move(
        self, job_id: int, sources: tuple[JobStatus, ...], target: JobStatus, reason: str | None
    ) -> PrintJob:
        """Change a job's status atomically, only from one of `sources`."""
        now = self._now()

        def update(conn: sqlite3.Connection) -> PrintJob:
            with transaction(conn):
                marks = ",".join("?" * len(sources))
                cur = conn.execute(
                    f"UPDATE print_jobs SET status = ?, reason = ?, updated_at = ?"
                    f" WHERE id = ? AND status IN ({marks})",
                    (target, reason, now, job_id, *sources),
                )
                job = _get(conn, job_id)
                if cur.rowcount != 1:
                    raise JobError(f"print job {job_id} is {job.status}, cannot become {target}")
                return job

        job = await self._db.run(update)
        log.info("session %s: print job %s %s %s", job.session_id, job_id, target, reason or "")
        return job

    async def mark_sending(self, job_id: int) -> PrintJob:
        """pending -> sending; the only way to a send, so a job is sent at most once."""
        return await self._move(job_id, (JobStatus.PENDING,), JobStatus.SENDING, None)

    async def mark_printed(self, job_id: int) -> PrintJob:
        """sending -> printed."""
        return await self._move(job_id, (JobStatus.SENDING,), JobStatus.PRINTED, None)

    async def mark_failed(self, job_id: int, reason: str) -> PrintJob:
        """pending or sending -> failed, with the reason in plain words."""
        sources = (JobStatus.PENDING, JobStatus.SENDING)
        return await self._move(job_id, sources, JobStatus.FAILED, reason)

    async def mark_uncertain(self, job_id: int, reason: str) -> PrintJob:
        """sending -> uncertain: it may have printed, so it is never sent again by itself."""
        return await self._move(job_id, (JobStatus.SENDING,), JobStatus.UNCERTAIN, reason)

    async def confirm_uncertain(self, job_id: int, session_id: str, printed: bool) -> PrintJob:
        """A person looked at the printer: settle an uncertain job as printed or failed."""
        job = await self.get(job_id)
        if job.session_id != session_id:
            raise JobError(f"print job {job_id} belongs to another session")
        target = JobStatus.PRINTED if printed else JobStatus.FAILED
        reason = "confirmed printed" if printed else "confirmed not printed"
        return await self._move(job_id, (JobStatus.UNCERTAIN,), target, reason)

    async def reprint(self, job_id: int, session_id: str) -> PrintJob:
        """A new pending job with the payload of failed job `job_id` of the same session."""
        now = self._now()

        def copy(conn: sqlite3.Connection) -> PrintJob:
            with transaction(conn):
                job = _get(conn, job_id)
                if job.session_id != session_id:
                    raise JobError(f"print job {job_id} belongs to another session")
                _check_open(conn, session_id)
                if job.status is not JobStatus.FAILED:
                    raise JobError(f"print job {job_id} is {job.status}; only failed jobs reprint")
                live = _live_job(conn, session_id, job.number)
                if live is not None:
                    raise JobError(
                        f"prescription {job.number} already has job {live.id} ({live.status})"
                    )
                cur = conn.execute(
                    "INSERT INTO print_jobs (session_id, number, payload, size, status, reprint_of,"
                    " created_at, updated_at) SELECT session_id, number, payload, size, 'pending',"
                    " id, ?, ? FROM print_jobs WHERE id = ? AND payload IS NOT NULL",
                    (now, now, job_id),
                )
                if cur.rowcount != 1:
                    raise JobError(f"print job {job_id} has no payload any more")
                return _get(conn, int(cur.lastrowid or 0))

        new = await self._db.run(copy)
        log.info("session %s: print job %s reprints job %s", session_id, new.id, job_id)
        return new

    async def cancel_session(self, session_id: str) -> int:
        """End of session: close it for printing, cancel its unprinted jobs, wipe its payloads."""
        now = self._now()

        def cancel(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                conn.execute(
                    "INSERT OR IGNORE INTO print_closed_sessions (session_id, closed_at)"
                    " VALUES (?, ?)",
                    (session_id, now),
                )
                cur = conn.execute(
                    "UPDATE print_jobs SET status = 'cancelled', reason = 'session ended',"
                    " updated_at = ? WHERE session_id = ? AND status IN ('pending', 'failed')",
                    (now, session_id),
                )
                conn.execute(
                    "UPDATE print_jobs SET payload = NULL"
                    " WHERE session_id = ? AND status != 'sending'",
                    (session_id,),
                )
                return cur.rowcount

        count = await self._db.run(cancel)
        log.info("session %s: %s unprinted print jobs cancelled", session_id, count)
        return count

    async def latest(self) -> PrintJob | None:
        """The most recent job of any session, for the technician's screen."""
        def query(conn: sqlite3.Connection) -> PrintJob | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM print_jobs ORDER BY id DESC LIMIT 1").fetchone()
            return None if row is None else PrintJob.from_row(row)

        return await self._db.run(query)

    async def recover(self) -> list[PrintJob]:
        """After a restart: sending -> uncertain, pending -> cancelled, sessions closed, payloads wiped."""
        now = self._clock.now().astimezone(UTC)

        def fix(conn: sqlite3.Connection) -> list[PrintJob]:
            with transaction(conn):
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM print_jobs WHERE status IN ('sending', 'pending')"
                )]
                conn.execute(
                    "UPDATE print_jobs SET status = 'uncertain', updated_at = ?, reason ="
                    " 'station stopped while sending; check the printer' WHERE status = 'sending'",
                    (now.isoformat(),),
                )
                conn.execute(
                    "UPDATE print_jobs SET status = 'cancelled', updated_at = ?, reason ="
                    " 'station restarted before sending' WHERE status = 'pending'",
                    (now.isoformat(),),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO print_closed_sessions (session_id, closed_at)"
                    " SELECT DISTINCT session_id, ? FROM print_jobs",
                    (now.isoformat(),),
                )
                conn.execute(
                    "UPDATE print_jobs SET status = 'cancelled', updated_at = ?, reason = 'session ended'"
                    " WHERE status = 'failed'",
                    (now.isoformat(),),
                )
                # Every session is closed now, so nothing can be sent again: no payload is needed.
                conn.execute("UPDATE print_jobs SET payload = NULL WHERE payload IS NOT NULL")
                return [_get(conn, job_id) for job_id in ids]

        jobs = await self._db.run(fix)
        for job in jobs:
            log.warning("session %s: print job %s left %s", job.session_id, job.id, job.status)
        return jobs
