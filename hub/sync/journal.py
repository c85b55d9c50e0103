"""The journal of changes to synchronised rows, written in the change's own transaction (docs/design.md,
"A day without network").

`Journal` listens to every flush of the sessions bound to its store's engine (an SQLAlchemy session
event, so every code path is journaled, not only the book's): each synchronised row added, changed
or deleted adds one `sync_journal` entry (its kind, uid, site and origin) to the same transaction, all
written at once when it commits.
A change applied from a peer is marked so by the applier (`applied_from`), and journaled with the
peer's id as its origin: it is never sent back there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store import Store
from hub.store.models import Station, SyncJournal
from hub.sync.docs import KINDS, kind_of

log = logging.getLogger(__name__)

APPLIED = "sync_applied"  # session.info key: {(kind, uid): the peer the change came from}
PENDING = "sync_pending"  # session.info key: the journal entries of the transaction's flushes so far


def applied_from(session: Session, kind: str, uid: str, peer: str) -> None:
    """Say that the change of (kind, uid) about to be flushed in `session` came from `peer`."""
    session.info.setdefault(APPLIED, {})[(kind, uid)] = peer


def made_here(session: Session, kind: str, uid: str) -> None:
    """Say that the change of (kind, uid) is this hub's own decision, even within an applied page."""
    session.info.setdefault(APPLIED, {}).pop((kind, uid), None)


class Journal:
    """Journals every change to a synchronised row of `store`, once started; `wall` is Unix time."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float]) -> None:
        self._store = store
        self._wall = wall
        self._config = config
        self._own = config.vehicle.site_code if config.vehicle is not None else ""
        self._installed = False

    async def start(self) -> None:
        """Listen to the store's sessions; a journal starting empty first lists every synchronised row already
        stored, so that rows written before this hub synchronised are sent too."""
        if not self._installed:
            await self._store.run(self._backfill)
            event.listen(Session, "after_flush", self._flushed)
            event.listen(Session, "before_commit", self._committing)
            self._installed = True

    def _backfill(self, session: Session) -> None:
        if session.scalar(select(SyncJournal.seq).limit(1)) is not None:
            return
        at = datetime.fromtimestamp(self._wall(), UTC)
        entries = [{"kind": kind.name, "uid": kind.uid(row), "scope": self.scope(session, row),
                    "origin": getattr(row, "origin", None) or "", "at": at}
                   for kind in KINDS.values() for row in session.scalars(select(kind.model))]
        if entries:
            session.execute(insert(SyncJournal), entries)
            log.info("synchronisation: %d rows stored before journaling are listed to be sent", len(entries))

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        if self._installed:
            event.remove(Session, "after_flush", self._flushed)
            event.remove(Session, "before_commit", self._committing)
            self._installed = False

    def scope(self, session: Session, row: Any) -> str:
        """The site a synchronised row belongs to (empty: this hub's own); a station's, as the store's accounts
        say (docs/design.md, "Accounts in the store")."""
        site = getattr(row, "site_code", None)
        if isinstance(site, str):
            return site
        station = getattr(row, "station_id", None)
        if isinstance(station, str):
            with session.no_autoflush:
                account = session.get(Station, station)
            return account.site_code or "" if account is not None else ""
        return self._own  # an audit entry: the vehicle's site on board, the department's own there

    def _flushed(self, session: Session, _context: object) -> None:
        if session.bind is None or session.bind is not self._store.engine:
            return
        origins: dict[tuple[str, str], str] = session.info.get(APPLIED, {})
        at = datetime.fromtimestamp(self._wall(), UTC)
        entries = []
        changed = [*session.new, *(r for r in session.dirty if session.is_modified(r)), *session.deleted]
        for row in changed:
            kind = kind_of(row)
            if kind is None:
                continue
            uid = kind.uid(row)
            origin = origins.get((kind.name, uid), "") or (getattr(row, "origin", None) or "")  # an audit entry's own
            entries.append({"kind": kind.name, "uid": uid, "scope": self.scope(session, row), "origin": origin,
                            "at": at})
        session.info.setdefault(PENDING, []).extend(entries)

    def _committing(self, session: Session) -> None:
        """Write the transaction's entries at once, in it, after its last flush."""
        if session.bind is None or session.bind is not self._store.engine:
            return
        session.flush()
        entries = session.info.pop(PENDING, [])
        if entries:
            session.connection().execute(insert(SyncJournal), entries)
