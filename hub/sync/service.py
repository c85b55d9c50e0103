"""Synchronisation's parts on one hub (docs/design.md, "A day without network"): the journal (on a hub
that synchronises: a vehicle's, or the department's with `[[vehicles]]`), the department's route, the
vehicle's uplink, and the list of conflicts."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.records import Announce
from hub.config import HubConfig
from hub.store import Store
from hub.sync.conflicts import ConflictList
from hub.sync.exchange import SyncApi
from hub.sync.journal import Journal
from hub.sync.merge import Applied, Merger
from hub.sync.uplink import Uplink


class Synchronisation:
    """The journal, started with the store (`start`); the uplink, started once the hub serves (`connect`)."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float], *, book: Book,
                 announce: Announce | None, logins: Logins) -> None:
        self._config = config
        self._book = book
        self._journal = Journal(store, config, wall)
        self._journaling = config.vehicle is not None or bool(config.vehicles)
        merger = Merger(config, self._journal, wall, announce=announce)
        self._api = SyncApi(store, config, merger, self._applied, wall)
        self._conflicts = ConflictList(store, book, logins, config)
        upstream = config.vehicle.upstream if config.vehicle is not None else None
        self.uplink = Uplink(store, upstream, merger, self._applied, wall) if upstream is not None else None

    def routes(self) -> list[web.AbstractRouteDef]:
        return [*self._api.routes(), *self._conflicts.routes()]

    async def start(self) -> None:
        """Journal every change to a synchronised row from now on (the store open)."""
        if self._journaling:
            await self._journal.start()

    async def connect(self) -> None:
        """Start synchronising with the department's hub, on a vehicle's hub that has one."""
        if self.uplink is not None:
            await self.uplink.start()

    async def stop(self) -> None:
        """Stop the uplink and the journal; idempotent."""
        if self.uplink is not None:
            await self.uplink.stop()
        await self._journal.stop()

    async def _applied(self, applied: Applied) -> None:
        """A page applied: the programme read again, the book's listeners (the cabins) told of each booking."""
        if applied.stops:
            await self._book.programme.reload()
        for view in {v.id: v for v in [*applied.bookings, *applied.conflicts]}.values():
            self._book.told(view)
