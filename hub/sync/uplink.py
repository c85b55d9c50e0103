"""The vehicle's side of the exchange (docs/design.md, "A day without network"): `Uplink` pushes its
journal to the department's hub and applies the answer, page after page until neither side has
anything left, every `[vehicle.upstream] interval_s`, and with growing delays while the link is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import aiohttp
from pydantic import ValidationError
from sqlalchemy.orm import Session

from hub.config import UpstreamSection
from hub.store import Store
from hub.store.models import SyncPeer
from hub.sync.docs import DocError
from hub.sync.exchange import Answer, Push, keep_cursors, read_page
from hub.sync.merge import Applied, Merger
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

DEPARTMENT = "department"  # the department's hub's name in synchronisation (HubConfig.origin)
MAX_PAGES = 1000  # pages in one synchronisation: the rest waits for the next


class SyncFailed(StationError):
    """A synchronisation that did not finish: the link is down, or the department's hub refused."""


@dataclass(frozen=True)
class Synchronised:
    """What one synchronisation moved: documents sent and received, and in how many exchanges."""

    sent: int
    received: int
    exchanges: int


class Uplink:
    """Synchronises the vehicle's hub with the department's at `upstream`; `wall` is Unix time."""

    def __init__(self, store: Store, upstream: UpstreamSection, merger: Merger,
                 applied: Callable[[Applied], Awaitable[None]], wall: Callable[[], float]) -> None:
        self._store = store
        self._upstream = upstream
        self._merger = merger
        self._applied = applied
        self._wall = wall
        self._lock = asyncio.Lock()
        self._backoff = Backoff(min(2.0, upstream.interval_s), max(upstream.interval_s, 300.0), jitter=0.2)
        self._tasks = TaskSet("uplink", log)
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self._upstream.url.rstrip("/") + "/api/sync"

    async def start(self) -> None:
        """Synchronise now, then every interval_s."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._upstream.timeout_s))
            self._tasks.spawn(self._run(), "uplink")

    async def stop(self) -> None:
        """Stop synchronising; idempotent. A synchronisation cut here resumes at the next start."""
        await self._tasks.cancel_all()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def synchronise(self) -> Synchronised:
        """Exchange pages until neither hub has anything left; SyncFailed when the link or the peer fails
        (what was applied on either side stays applied, and its cursor with it)."""
        async with self._lock:
            sent = received = exchanges = 0
            while exchanges < MAX_PAGES:
                mine, theirs = await self._store.run(self._cursors)
                page = await self._store.run(partial(read_page, after=mine, not_from=DEPARTMENT, scope=None))
                answer = await self._post(Push(docs=page.docs, through=page.through, applied=theirs))
                now = datetime.fromtimestamp(self._wall(), UTC)

                def apply(session: Session, answer: Answer = answer, now: datetime = now) -> Applied:
                    applied = self._merger.apply(session, answer.docs, DEPARTMENT, None)
                    keep_cursors(session, DEPARTMENT, sent=answer.acknowledged, received=answer.through, at=now)
                    return applied
                try:
                    applied = await self._store.run(apply)
                except DocError as exc:
                    raise SyncFailed(f"the department's hub sent a wrong document: {exc}") from exc
                await self._applied(applied)
                exchanges += 1
                sent, received = sent + len(page.docs), received + len(answer.docs)
                if not page.docs and not answer.docs:
                    break
            return Synchronised(sent, received, exchanges)

    def _cursors(self, session: Session) -> tuple[int, int]:
        row = session.get(SyncPeer, DEPARTMENT)
        return (row.sent, row.received) if row is not None else (0, 0)

    async def _post(self, push: Push) -> Answer:
        if self._http is None:
            raise SyncFailed("the uplink is not started")
        headers = {"Authorization": f"Bearer {self._upstream.token.get_secret_value()}"}
        try:
            async with self._http.post(self.url, json=push.model_dump(mode="json"), headers=headers) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SyncFailed(f"cannot synchronise with {self.url}: {type(exc).__name__} {exc}") from exc
        if status != 200:
            what = body.get("message") if isinstance(body, dict) else None
            raise SyncFailed(f"the department's hub at {self.url} refused ({status}): {what}")
        try:
            return Answer.model_validate(body)
        except ValidationError as exc:
            raise SyncFailed(f"the department's hub at {self.url} answered something else: {exc}") from exc

    async def _run(self) -> None:
        while True:
            try:
                done = await self.synchronise()
            except StationError as exc:
                log.warning("synchronisation: %s; next try later", exc)
                await self._backoff.pause()
                continue
            self._backoff.reset()
            if done.sent or done.received:
                log.info("synchronisation: %d documents sent, %d received", done.sent, done.received)
            await asyncio.sleep(self._upstream.interval_s)
