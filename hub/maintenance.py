"""Remote maintenance of the cabins by the hub's technicians (docs/design.md, "Remote maintenance").

`POST /api/fleet/stations/{id}/maintenance {action, reason?, lines?}` (a technician's login, from
the hub's own pages) records a run in the store and sends the station a `maintenance` message;
`GET` the same URL lists the station's recent runs with their results, newest first, for the
fleet page to poll. The station may be connected to another hub instance: its
`maintenance_result` reaches whichever instance holds its socket, whose `RemoteMaintenance`
writes it to the store (never to a future waiting here), so any instance reads it back.

A station starts a run only within START_S of its arrival (it answers `expired` past them: a run
waiting behind a self-test is not done minutes later); the hub waits START_S and the action's
own time (`RUN_S`) for the answer. A run unanswered by then reads as timed out; an answer that
comes later still is recorded, and the run reads as answered late.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.booking.wire import json_body
from hub.errors import Refusal
from hub.store.models import MaintenanceRun
from protocol.hub import MAX_LOG_LINES, Maintenance, MaintenanceAction, MaintenanceResult
from protocol.versioned import Message
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from hub.accounts import AccountDirectory
    from hub.auth import Logins
    from hub.store import Store

log = logging.getLogger(__name__)

START_S = 30.0  # a station does not start a run it received longer ago than this
# How long an action may take once started: a self-test waits up to 90 s for a blood-pressure reading
# (devices/manager.py, SELF_TEST_S); the others take the cabin's lock for a moment at most.
RUN_S: dict[str, float] = {"diagnostics": 30.0, "self_test": 120.0, "logs": 30.0,
                          "out_of_service": 30.0, "back_in_service": 30.0}
RECENT_RUNS = 20
ACTIONS: tuple[MaintenanceAction, ...] = ("diagnostics", "self_test", "logs", "out_of_service", "back_in_service")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RunRequest:
    """What a technician asks of a station: the action, with the reason for out_of_service, lines for logs."""

    action: MaintenanceAction
    reason: str | None = None
    lines: int | None = None


def parse_run(body: dict[str, Any]) -> RunRequest:
    """The run a request body asks for; a 422 refusal saying what is wrong."""
    action = body.get("action")
    if action not in ACTIONS:
        raise Refusal(422, "invalid_request", f"action: one of {', '.join(ACTIONS)}", fields=["action"])
    reason, lines = body.get("reason"), body.get("lines")
    if action == "out_of_service":
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise Refusal(422, "invalid_request", "reason: the text shown to patients, 1 to 200 characters",
                          fields=["reason"])
        return RunRequest(action, reason=reason.strip())
    if reason is not None:
        raise Refusal(422, "invalid_request", "reason: only out_of_service takes one", fields=["reason"])
    if action == "logs" and lines is not None:
        if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LOG_LINES:
            raise Refusal(422, "invalid_request", f"lines: a number from 1 to {MAX_LOG_LINES}", fields=["lines"])
        return RunRequest(action, lines=lines)
    if lines is not None:
        raise Refusal(422, "invalid_request", "lines: only logs takes a number of lines", fields=["lines"])
    return RunRequest(action)


def answer_by(run: MaintenanceRun) -> datetime:
    """When the hub stops waiting for the run's answer: START_S and the action's RUN_S after it was asked."""
    return run.requested_at + timedelta(seconds=START_S + RUN_S[run.action])


def run_json(run: MaintenanceRun, now: datetime) -> dict[str, Any]:
    """A run as the fleet page reads it at `now`: `status` pending, ok, failed or timed_out (unanswered by
    `answer_by`), `late` when its answer came after that."""
    due = answer_by(run)
    if run.finished_at is None:
        status, code, error = ("pending", None, None) if now <= due else (
            "timed_out", "timeout", f"the station did not answer within {START_S + RUN_S[run.action]:.0f} s")
    else:
        status, code, error = "ok" if run.ok else "failed", run.code, run.error
    return {"id": run.id, "station": run.station_id, "action": run.action, "reason": run.reason,
            "technician": run.technician, "requested_at": run.requested_at.isoformat(),
            "answer_by": due.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at is not None else None,
            "late": run.finished_at is not None and run.finished_at > due,
            "status": status, "code": code, "error": error, "result": run.result}


def recent_runs(session: Session, station_id: str, now: datetime) -> list[dict[str, Any]]:
    """The station's last RECENT_RUNS runs, newest first, as they read at `now`."""
    rows = session.scalars(select(MaintenanceRun).where(MaintenanceRun.station_id == station_id)
                           .order_by(MaintenanceRun.requested_at.desc(), MaintenanceRun.id).limit(RECENT_RUNS))
    return [run_json(row, now) for row in rows]


def record_result(session: Session, station_id: str, answer: MaintenanceResult, now: datetime) -> str | None:
    """Keep a station's answer to its run, late or not; why it was not kept, if it was not."""
    run = session.get(MaintenanceRun, answer.run)
    if run is None or run.station_id != station_id or run.action != answer.action:
        return "no such run was sent to this station"
    if run.finished_at is not None:
        return "the run is already answered"
    run.finished_at, run.ok, run.result, run.code, run.error = now, answer.ok, answer.result, answer.code, answer.error
    if now > answer_by(run):
        log.warning("station %s answered maintenance run %s (%s) late: recorded as such", station_id, run.id,
                    run.action)
    return None


class RemoteMaintenance:
    """The technicians' maintenance API, and where stations' answers are written to the store."""

    def __init__(self, store: Store, accounts: AccountDirectory, wall: Callable[[], float],
                 send: Callable[[str, Message], bool], online: Callable[[str], bool]) -> None:
        """`accounts` knows the stations; `send` a message to a station wherever it is connected (False: it is
        nowhere); `online` says whether it is."""
        self._store = store
        self._accounts = accounts
        self._wall = wall
        self._send = send
        self._online = online
        self._tasks = TaskSet("maintenance", log)

    async def stop(self) -> None:
        """Stop writing answers still in flight; idempotent."""
        await self._tasks.cancel_all()

    def routes(self, from_console: Callable[[Handler], Handler], logins: Logins) -> list[web.AbstractRouteDef]:
        """The API, for technicians' logins; a POST only from the hub's own pages."""
        async def ask(request: web.Request) -> web.StreamResponse:
            return await self._ask(request, logins)

        async def runs(request: web.Request) -> web.StreamResponse:
            logins.staff(request, "technician")
            station = self._station(request)
            now = self._now()
            found = await self._store.run(lambda session: recent_runs(session, station, now))
            return web.json_response({"station": station, "online": self._online(station), "runs": found})

        path = "/api/fleet/stations/{station}/maintenance"
        return [web.post(path, from_console(ask)), web.get(path, runs)]

    def result(self, station_id: str, answer: MaintenanceResult) -> None:
        """A station answered a run (from the relay, whichever instance sent the run): into the store."""
        self._tasks.spawn(self._keep(station_id, answer), f"result-{answer.run}")

    async def _keep(self, station_id: str, answer: MaintenanceResult) -> None:
        now = self._now()
        try:
            dropped = await self._store.run(lambda session: record_result(session, station_id, answer, now))
        except StationError as exc:
            log.warning("station %s's answer to maintenance run %s is lost: %s", station_id, answer.run, exc)
            return
        if dropped is not None:
            log.warning("station %s's answer to maintenance run %s is dropped: %s", station_id, answer.run, dropped)

    async def _ask(self, request: web.Request, logins: Logins) -> web.StreamResponse:
        technician = logins.staff(request, "technician")
        station = self._station(request)
        asked = parse_run(await json_body(request))
        run = MaintenanceRun(id=uuid.uuid4().hex, station_id=station, action=asked.action, reason=asked.reason,
                             technician=technician.username, requested_at=self._now())
        await self._store.run(lambda session: session.add(run))
        message = Maintenance(run=run.id, action=asked.action, technician=technician.username, reason=asked.reason,
                              lines=asked.lines, start_within_s=START_S)
        if not self._send(station, message):
            await self._store.run(lambda session: self._offline(session, run.id))
            raise Refusal(409, "offline", f"station {station} is not connected to the hub: it cannot be maintained "
                          "remotely until it is back")
        log.info("technician %s asked station %s for %s (run %s)", technician.username, station, asked.action, run.id)
        return web.json_response({"run": run_json(run, run.requested_at)}, status=202)

    def _offline(self, session: Session, run_id: str) -> None:
        run = session.get(MaintenanceRun, run_id)
        if run is not None:
            run.finished_at, run.ok, run.code, run.error = self._now(), False, "offline", "the station was offline"

    def _station(self, request: web.Request) -> str:
        station = request.match_info["station"]
        if self._accounts.station(station) is None:
            raise Refusal(404, "unknown_station", f"no station {station} on this hub")
        return station

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)
