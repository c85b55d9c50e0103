"""Durable print jobs: the state machine, session binding, crash recovery, payload wiping."""

from __future__ import annotations

from datetime import datetime

import pytest

from printer.errors import JobError
from printer.jobs import JobStatus, PrintJobs
from runtime.clock import PARIS, Clock
from runtime.storage import Database

START = datetime(2025, 1, 14, 10, 30, tzinfo=PARIS)


@pytest.fixture
async def jobs(db: Database) -> PrintJobs:
    store = PrintJobs(db, Clock(start=START))
    await store.start()
    return store


async def test_happy_path(jobs: PrintJobs) -> None:
    job = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"\x1b@hi\x1dV\x00")
    assert job.status is JobStatus.PENDING and job.size == 7
    assert await jobs.payload(job.id) == b"\x1b@hi\x1dV\x00"
    assert (await jobs.mark_sending(job.id)).status is JobStatus.SENDING
    assert (await jobs.mark_printed(job.id)).status is JobStatus.PRINTED
    assert job.created_at.utcoffset() is not None


async def test_a_job_is_sent_at_most_once(jobs: PrintJobs) -> None:
    job = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"x")
    await jobs.mark_sending(job.id)
    with pytest.raises(JobError, match="sending, cannot become sending"):
        await jobs.mark_sending(job.id)
    await jobs.mark_failed(job.id, "paper ran out during printing")
    with pytest.raises(JobError):
        await jobs.mark_sending(job.id)
    assert (await jobs.get(job.id)).reason == "paper ran out during printing"


async def test_cancel_session_cancels_unprinted_jobs_and_wipes_payloads(jobs: PrintJobs) -> None:
    pending = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    failed = await jobs.record("s1", "NAN231-20250114-BBBBBBBB", b"b")
    await jobs.mark_failed(failed.id, "paper out")
    other = await jobs.record("s2", "NAN231-20250114-CCCCCCCC", b"c")
    assert await jobs.cancel_session("s1") == 2
    for job_id in (pending.id, failed.id):
        job = await jobs.get(job_id)
        assert job.status is JobStatus.CANCELLED and job.reason == "session ended"
        with pytest.raises(JobError, match="no payload"):
            await jobs.payload(job_id)
    with pytest.raises(JobError):
        await jobs.mark_sending(pending.id)
    with pytest.raises(JobError, match="has ended"):
        await jobs.reprint(failed.id, "s1")
    with pytest.raises(JobError, match="has ended"):
        await jobs.record("s1", "NAN231-20250114-DDDDDDDD", b"late message from the GP")
    assert (await jobs.get(other.id)).status is JobStatus.PENDING


async def test_recover_after_crash_makes_sending_uncertain_and_never_resends(
    db: Database, jobs: PrintJobs
) -> None:
    crashed = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    await jobs.mark_sending(crashed.id)
    never_sent = await jobs.record("s1", "NAN231-20250114-BBBBBBBB", b"b")
    reopened = PrintJobs(db, Clock(start=START))  # as after a restart
    await reopened.start()
    settled = {job.id: job.status for job in await reopened.recover()}
    assert settled == {crashed.id: JobStatus.UNCERTAIN, never_sent.id: JobStatus.CANCELLED}
    with pytest.raises(JobError):
        await reopened.mark_sending(crashed.id)
    with pytest.raises(JobError):
        await reopened.mark_sending(never_sent.id)
    # The restart ended the consultation: nothing of it can print again, whatever a person says.
    assert (await reopened.confirm_uncertain(crashed.id, "s1", printed=False)).status is JobStatus.FAILED
    with pytest.raises(JobError, match="has ended"):
        await reopened.reprint(crashed.id, "s1")
    with pytest.raises(JobError, match="has ended"):
        await reopened.record("s1", "NAN231-20250114-CCCCCCCC", b"c")
    assert await reopened.recover() == []  # idempotent


async def test_uncertain_job_reprints_only_after_a_person_says_it_did_not_print(
    jobs: PrintJobs,
) -> None:
    job = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    await jobs.mark_sending(job.id)
    await jobs.mark_uncertain(job.id, "cancelled while sending")
    with pytest.raises(JobError, match="another session"):
        await jobs.confirm_uncertain(job.id, "s2", printed=False)
    assert (await jobs.confirm_uncertain(job.id, "s1", printed=False)).status is JobStatus.FAILED
    again = await jobs.reprint(job.id, "s1")
    assert again.reprint_of == job.id and again.status is JobStatus.PENDING
    assert await jobs.payload(again.id) == b"a"


async def test_reprint_checks_session_state_and_duplicates(jobs: PrintJobs) -> None:
    job = await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    with pytest.raises(JobError, match="only failed jobs"):
        await jobs.reprint(job.id, "s1")
    await jobs.mark_failed(job.id, "paper out")
    with pytest.raises(JobError, match="another session"):
        await jobs.reprint(job.id, "s2")
    first = await jobs.reprint(job.id, "s1")
    with pytest.raises(JobError, match=f"already has job {first.id}"):
        await jobs.reprint(job.id, "s1")
    with pytest.raises(JobError, match="does not exist"):
        await jobs.reprint(999, "s1")


async def test_a_number_belongs_to_one_session(jobs: PrintJobs) -> None:
    await jobs.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    with pytest.raises(JobError, match="another session"):
        await jobs.record("s2", "NAN231-20250114-AAAAAAAA", b"a")


async def test_recover_closes_every_session_and_wipes_every_payload(db: Database) -> None:
    early = PrintJobs(db, Clock(start=START))
    await early.start()
    failed = await early.record("s1", "NAN231-20250114-AAAAAAAA", b"a")
    await early.mark_failed(failed.id, "paper out")
    printed = await early.record("s2", "NAN231-20250114-CCCCCCCC", b"c")
    await early.mark_sending(printed.id)
    await early.mark_printed(printed.id)
    await early.recover()
    job = await early.get(failed.id)
    assert job.status is JobStatus.CANCELLED and job.reason == "session ended"
    for job_id in (failed.id, printed.id):
        with pytest.raises(JobError, match="no payload"):
            await early.payload(job_id)
    assert (await early.latest()) == await early.get(printed.id)
