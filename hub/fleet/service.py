"""The fleet view's component (docs/design.md, "The fleet view"): stations' health reports into the
hub's store, the fleet page and its API.

`report()` is the relay's hook for a station's `station_health` message. Reports are written by one
task, the latest of each station only when several wait (a busy store never queues more than one
per station), with a sample for the charts at most every [monitoring] sample_s per station; samples
older than history_days are pruned every hour. Every hub instance writes to and reads from the same
store, so the page shows every cabin whichever instance it is connected to.

HTTP, for coordinators and technicians (`Logins.staff`): `/fleet` and `/fleet/{path}` the page
(`hub/fleet_page/`); `GET /api/fleet` every cabin and the alerts, `{role, now, cabins: [{station,
site, online, reported_at, dirty_for_s, health}], alerts: [{station, site, kind, severity, at,
detail}]}`; `GET /api/fleet/history/{station}?days=N` the station's samples, `{station, samples:
[{at, state, loop_lag_s, batteries: {device: percent}}]}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.orm import Session

from hub.accounts import AccountDirectory
from hub.auth import Logins
from hub.config import HubConfig
from hub.errors import Refusal
from hub.files import static_file
from hub.fleet import records
from hub.fleet.alerts import Latest, Thresholds, alerts, dirty_for, online
from hub.store import Store
from protocol.hub import StationHealth
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent.parent / "fleet_page"
PRUNE_S = 3600.0
ROLES = ("coordinator", "technician")


class FleetView:
    """Keeps the stations' health reports and serves the fleet page and its API."""

    def __init__(self, store: Store, config: HubConfig, logins: Logins, wall: Callable[[], float], *,
                 accounts: AccountDirectory) -> None:
        """`wall` is Unix time: reports are dated by the hub's clock, every instance's the same; `accounts` lists
        the stations (the store's, not the hub file's)."""
        self._store = store
        self._accounts = accounts
        self._monitoring = config.monitoring
        self.thresholds = Thresholds.of(config.monitoring)
        self._logins = logins
        self._wall = wall
        self._pending: dict[str, tuple[StationHealth, float]] = {}
        self._wake = asyncio.Event()
        self._sampled: dict[str, float] = {}  # per station, when its last sample was kept
        self._tasks = TaskSet("fleet", log)

    async def start(self) -> None:
        """Start the writer and the pruner; idempotent."""
        if len(self._tasks) == 0:
            self._tasks.spawn(self._write(), "fleet-writer")
            self._tasks.spawn(self._prune(), "fleet-pruner")

    async def stop(self) -> None:
        """Stop both; a report not yet written is dropped (the station sends another). Idempotent."""
        await self._tasks.cancel_all()

    def report(self, station_id: str, health: StationHealth) -> None:
        """A station's health report, from its socket: written soon, the latest first."""
        self._pending[station_id] = (health, self._wall())
        self._wake.set()

    def stations(self) -> set[str]:
        """The ids of the hub's enabled stations (the store's accounts)."""
        return {s.id for s in self._accounts.stations}

    async def latest(self) -> list[Latest]:
        """Every station's latest report, as every instance wrote them."""
        rows = await self._store.run(records.latest)
        found = []
        for station, at, report in rows:
            try:
                found.append(Latest(station, at, StationHealth.model_validate(report)))
            except ValidationError:
                log.warning("station %s's stored health report is not readable: skipped", station)
        return found

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            every = self._monitoring.sample_s
            sampled = {sid for sid, (_, at) in pending.items() if at - self._sampled.get(sid, float("-inf")) >= every}
            try:
                await self._store.run(partial(_keep_all, pending=pending, sampled=sampled))
            except StationError as exc:
                log.warning("the health reports of %s are not kept: %s", ", ".join(sorted(pending)), exc)
                continue
            self._sampled.update({sid: pending[sid][1] for sid in sampled})

    async def _prune(self) -> None:
        while True:
            before = datetime.fromtimestamp(self._wall(), UTC) - timedelta(days=self._monitoring.history_days)
            try:
                gone = await self._store.run(partial(records.prune, before=before))
            except StationError as exc:
                log.warning("the fleet's health history is not pruned: %s", exc)
            else:
                if gone:
                    log.info("fleet history: %d samples older than %s pruned", gone, before.isoformat())
            await asyncio.sleep(PRUNE_S)

    # HTTP.

    def routes(self) -> list[web.AbstractRouteDef]:
        """The fleet page and its API."""
        return [
            web.get("/fleet", self._index),
            web.get("/fleet/{path:.+}", self._file),
            web.get("/api/fleet", self._fleet),
            web.get("/api/fleet/history/{station}", self._history),
        ]

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return static_file(PAGE_DIR, "index.html", "the fleet page")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return static_file(PAGE_DIR, request.match_info["path"], "the fleet page")

    async def _fleet(self, request: web.Request) -> web.StreamResponse:
        account = self._logins.staff(request, *ROLES)
        now = datetime.fromtimestamp(self._wall(), UTC)
        found = {one.station: one for one in await self.latest()}
        sites = {s.id: s.site for s in self._accounts.stations}
        cabins = []
        for sid, site in sites.items():
            one = found.get(sid)
            cabins.append({
                "station": sid, "site": site, "online": one is not None and online(one, now, self.thresholds),
                "reported_at": one.at.isoformat() if one is not None else None,
                "dirty_for_s": dirty_for(one, now) if one is not None else None,
                "health": one.health.model_dump(mode="json", exclude={"v", "type"}) if one is not None else None,
            })
        listed = [one for sid, one in found.items() if sid in sites]
        return web.json_response({
            "role": account.role, "now": now.isoformat(), "cabins": cabins,
            "alerts": [{**a.to_json(), "site": sites[a.station]}
                       for a in alerts(listed, now, self.thresholds, stations=sites)],
        })

    async def _history(self, request: web.Request) -> web.StreamResponse:
        self._logins.staff(request, *ROLES)
        station = request.match_info["station"]
        if self._accounts.station(station) is None:
            raise Refusal(404, "unknown_station", f"no station {station} on this hub")
        kept = self._monitoring.history_days
        try:
            days = min(kept, max(1, int(request.query.get("days", kept))))
        except ValueError:
            raise Refusal(400, "bad_request", "days is a whole number of days") from None
        since = datetime.fromtimestamp(self._wall(), UTC) - timedelta(days=days)
        rows = await self._store.run(lambda session: records.history(session, station, since))
        return web.json_response({"station": station, "samples": [_sample(at, report) for at, report in rows]})


def _keep_all(session: Session, *, pending: dict[str, tuple[StationHealth, float]], sampled: set[str]) -> None:
    """Keep every pending report, and a sample of those in `sampled`."""
    for sid, (health, at) in pending.items():
        records.keep(session, sid, datetime.fromtimestamp(at, UTC), health.model_dump(mode="json", exclude_none=True),
                     sample=sid in sampled)


def _sample(at: datetime, report: records.Report) -> dict[str, object]:
    """What the charts draw of one sample."""
    devices = report.get("devices") or []
    batteries = {d["id"]: d["battery"] for d in devices if isinstance(d, dict) and d.get("battery") is not None}
    return {"at": at.isoformat(), "state": report.get("state"), "loop_lag_s": report.get("loop_lag_s"),
            "batteries": batteries}
