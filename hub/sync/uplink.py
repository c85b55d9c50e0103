"""The vehicle's side of the exchange (docs/design.md, "A day without network"): `Uplink` pushes its
journal to the department's hub and applies the answer, page after page until neither side has
anything left, every `[vehicle.upstream] interval_s`, and after growing delays while the link is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import aiohttp
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
    """What one synchronisation moved: documents sent and received, in how many exchanges, and the bytes of
    the requests' and answers' bodies."""

    sent: int
    received: int
    exchanges: int
    bytes_sent: int
    bytes_received: int


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
        """Synchronise every interval_s from now (and sooner, as `synchronise` is called)."""
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
            sent = received = exchanges = bytes_sent = bytes_received = 0
            while exchanges < MAX_PAGES:
                mine, theirs = await self._store.run(self._cursors)
                page = await self._store.run(partial(read_page, after=mine, not_from=DEPARTMENT, scope=None))
                body = Push(docs=page.docs, through=page.through, applied=theirs).model_dump_json().encode()
                answer, size = await self._post(body)
                bytes_sent, bytes_received = bytes_sent + len(body), bytes_received + size
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
            return Synchronised(sent, received, exchanges, bytes_sent, bytes_received)

    def _cursors(self, session: Session) -> tuple[int, int]:
        row = session.get(SyncPeer, DEPARTMENT)
        return (row.sent, row.received) if row is not None else (0, 0)

    async def _post(self, push: bytes) -> tuple[Answer, int]:
        """The department's answer to `push` (a Push as JSON), and its size in bytes."""
        if self._http is None:
            raise SyncFailed("the uplink is not started")
        headers = {"Authorization": f"Bearer {self._upstream.token.get_secret_value()}",
                   "Content-Type": "application/json"}
        try:
            async with self._http.post(self.url, data=push, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SyncFailed(f"cannot synchronise with {self.url}: {type(exc).__name__} {exc}") from exc
        try:
            if status != 200:
                what = json.loads(raw).get("message")
                raise SyncFailed(f"the department's hub at {self.url} refused ({status}): {what}")
            return Answer.model_validate_json(raw), len(raw)
        except (ValueError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
            raise SyncFailed(f"the department's hub at {self.url} answered something else ({status}): {exc}") from exc

    async def _run(self) -> None:
        delay = self._upstream.interval_s
        while True:
            await asyncio.sleep(delay)
            try:
                done = await self.synchronise()
            except StationError as exc:
                delay = self._backoff.next()
                log.warning("synchronisation: %s; next try in %.0f s", exc, delay)
                continue
            except Exception:  # a bug must not end the vehicle's synchronisation for good
                delay = self._backoff.next()
                log.exception("synchronisation failed unexpectedly; next try in %.0f s", delay)
                continue
            self._backoff.reset()
            delay = self._upstream.interval_s
            if done.sent or done.received:
                log.info("synchronisation: %d documents sent, %d received", done.sent, done.received)
