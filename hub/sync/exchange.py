"""The exchange of journals between a vehicle's hub and the department's (docs/design.md, "A day without
network"): the pages, the wire's bodies, and the department's side, `POST /api/sync`.

The vehicle pushes a page of its changes after the last seq the department acknowledged, and the
department seq it has applied; the department applies the page and its cursor in one transaction,
then answers with the seq it acknowledges and a page of its own changes at the vehicle's site after
the vehicle's cursor, leaving out those that came from that vehicle. Each side moves its cursors
only in the transaction that applied the page, so a cut anywhere resends what was not acknowledged,
and applying a page twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import bearer_account
from hub.booking.wire import json_body, model
from hub.config import HubConfig, VehicleAccount
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import SyncJournal, SyncPeer
from hub.sync.docs import KINDS, Doc, DocError, encode
from hub.sync.merge import Applied, Merger

log = logging.getLogger(__name__)

PAGE = 200  # documents in one page, each way
MAX_BODY_BYTES = 4 * 1024 * 1024  # a page of bookings is far below this


class Push(BaseModel):
    """The vehicle's request: its page (`through` the last seq of its journal the page covers) and the last
    seq of the department's journal it has applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    docs: list[Doc] = Field(max_length=PAGE)
    through: int = Field(ge=0)
    applied: int = Field(ge=0)


class Answer(BaseModel):
    """The department's answer: the vehicle's seq it acknowledges, its own page, and whether more follows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    acknowledged: int = Field(ge=0)
    docs: list[Doc] = Field(max_length=PAGE)
    through: int = Field(ge=0)
    more: bool


@dataclass(frozen=True)
class Page:
    """Documents for the journal's entries after a cursor: each row once, as it is now."""

    docs: list[Doc]
    through: int
    more: bool


def read_page(session: Session, after: int, *, not_from: str, scope: str | None, limit: int = PAGE) -> Page:
    """The page of the journal after seq `after`, leaving out the changes that came from `not_from`; with
    `scope`, only that site's."""
    query = select(SyncJournal).where(SyncJournal.seq > after, SyncJournal.origin != not_from)
    if scope is not None:
        query = query.where(SyncJournal.scope == scope)
    entries = list(session.scalars(query.order_by(SyncJournal.seq).limit(limit + 1)))
    more, entries = len(entries) > limit, entries[:limit]
    latest: dict[tuple[str, str], None] = {}
    for entry in entries:  # a row changed twice is sent once, where it last changed
        latest.pop((entry.kind, entry.uid), None)
        latest[(entry.kind, entry.uid)] = None
    rows = {name: kind.find_many(session, [uid for k, uid in latest if k == name]) for name, kind in KINDS.items()}
    docs = []
    for name, uid in latest:
        row = rows[name].get(uid)
        docs.append(Doc(kind=name, uid=uid, row=encode(KINDS[name], row) if row is not None else None))  # type: ignore[arg-type]
    return Page(docs, entries[-1].seq if entries else after, more)


def keep_cursors(session: Session, peer: str, *, sent: int, received: int, at: datetime) -> SyncPeer:
    """Move `peer`'s cursors forward (never back) in the transaction that applied its page."""
    row = session.get(SyncPeer, peer)
    if row is None:
        row = SyncPeer(peer=peer, sent=0, received=0)
        session.add(row)
    row.sent, row.received, row.synced_at = max(row.sent, sent), max(row.received, received), at
    return row


def vehicle_account(config: HubConfig, authorization: str) -> VehicleAccount:
    """The [[vehicles]] entry whose token the request carries, or a 401 refusal."""
    return bearer_account(config.vehicles, authorization,
                          "a vehicle's hub synchronises with its token (Authorization: Bearer ...)")


class SyncApi:
    """`POST /api/sync` on the department's hub, for the vehicles its file lists."""

    def __init__(self, store: Store, config: HubConfig, merger: Merger, applied: Callable[[Applied], Awaitable[None]],
                 wall: Callable[[], float]) -> None:
        self._store = store
        self._config = config
        self._merger = merger
        self._applied = applied
        self._wall = wall

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/sync", self._sync)] if self._config.vehicles else []

    async def _sync(self, request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            raise Refusal(403, "forbidden_origin", "vehicles' hubs do not synchronise from a browser")
        vehicle = vehicle_account(self._config, request.headers.get("Authorization", ""))
        push = model(Push, await json_body(request.clone(client_max_size=MAX_BODY_BYTES)))
        now = datetime.fromtimestamp(self._wall(), UTC)

        def apply(session: Session) -> tuple[Applied, int]:
            applied = self._merger.apply(session, push.docs, vehicle.id, vehicle.site_code)
            peer = keep_cursors(session, vehicle.id, sent=push.applied, received=push.through, at=now)
            return applied, peer.received
        try:
            applied, acknowledged = await self._store.run(apply)
        except DocError as exc:
            raise Refusal(422, "invalid_document", str(exc)) from None
        await self._applied(applied)
        page = await self._store.run(lambda s: read_page(s, push.applied, not_from=vehicle.id,
                                                         scope=vehicle.site_code))
        log.info("synchronisation with %s: %d documents in, %d out", vehicle.id, len(push.docs), len(page.docs))
        answer = Answer(acknowledged=acknowledged, docs=page.docs, through=page.through, more=page.more)
        return web.Response(body=answer.model_dump_json().encode(), content_type="application/json")
