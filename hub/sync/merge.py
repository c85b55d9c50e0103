"""Applying a peer's documents by the merge rule (docs/design.md, "A day without network").

For one row the newest change wins: `changed_at`, then `changed_on` (the hub's name) when two
changes bear the same instant; an equal or older document changes nothing, so a page applied twice
is applied once. GP sessions and closures are made and withdrawn, never changed: a new uid is
added, a tombstone deletes. Audit entries are appended once (their origin and id there). A
station's audit chain head only goes forward: a lower one is refused and logged.

Two live bookings of one cabin's slot, made on both hubs while they were apart: the one booked
first (`created_at`, then `id`) keeps the slot, the other becomes "conflict", wherever the two
meet, so both hubs decide alike. The department's hub tells the patient (the outbox) when it finds
the collision or learns of it, having the network; the secretary finds the patient another slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.booking.records import Announce, BookingView
from hub.config import HubConfig
from hub.store.models import AuditEntry, Booking, Gp, OutboxMessage, Station, StationAuditHead, Stop, Visit
from hub.sync.docs import KINDS, Doc, DocError, decode
from hub.sync.journal import Journal, applied_from, made_here

log = logging.getLogger(__name__)

ACTOR = "synchronisation"
STEP = timedelta(microseconds=1)
CONFLICT_REASON = {
    "fr": "ce créneau avait déjà été réservé pendant une coupure du réseau : le secrétariat vous propose un "
          "autre rendez-vous",
    "en": "this slot had already been booked while the network was down: the secretary offers you another "
          "appointment",
}


STOP_OPENING = ("opened_at", "closed_at")  # the vehicle's: its secretary opens and closes the stop
STOP_PROGRAMME = ("place", "address", "hours", "status")  # the department's: its coordinators keep the programme


def newer(incoming: dict[str, Any], local: Any) -> bool:
    """Whether a document's change is newer than the row held here: changed_at, then changed_on."""
    return (incoming["changed_at"], incoming["changed_on"]) > (local.changed_at, local.changed_on)


def keeps_slot(holder: Any, other: dict[str, Any]) -> bool:
    """Whether `holder` (a row) was booked before `other` (a document's values): created_at, then id."""
    return (holder.created_at, holder.id) <= (other["created_at"], other["id"])


@dataclass
class Applied:
    """What a page changed here: the bookings (for the book's listeners), those now in conflict, the stops."""

    bookings: list[BookingView] = field(default_factory=list)
    conflicts: list[BookingView] = field(default_factory=list)
    stops: bool = False


@dataclass
class _Page:
    """One page being applied: where from, what it changed, and what was read for all its documents at once."""

    peer: str
    out: Applied
    held: dict[str, dict[str, Any]]  # rows of the page's uids the store holds, by kind then uid
    audit_held: set[int]  # the peer's audit entries (their ids there) already here
    known: dict[tuple[str | None, str | None], bool] = field(default_factory=dict)


class Merger:
    """Applies a peer's documents in one of the store's transactions; `announce` writes the patient's notice."""

    def __init__(self, config: HubConfig, journal: Journal, wall: Callable[[], float], *,
                 announce: Announce | None) -> None:
        self._config = config
        self._journal = journal
        self._wall = wall
        self._announce = announce if config.vehicle is None else None

    def apply(self, session: Session, docs: Sequence[Doc], peer: str, scope: str | None) -> Applied:
        """Apply `docs` from `peer`; with `scope`, a row of another site is refused (logged, skipped).
        DocError for a document that does not hold its kind's fields."""
        page = self._read(session, docs, peer)
        for doc in docs:
            kind = KINDS[doc.kind]
            values = decode(kind, doc.row) if doc.row is not None else None
            if scope is not None and doc.kind != "audit" and self._elsewhere(session, page, doc, values, scope):
                log.warning("synchronisation: %s %s from %s is not at %s: refused", doc.kind, doc.uid, peer, scope)
                continue
            getattr(self, f"_{doc.kind}")(session, doc.uid, values, page)
        return page.out

    def _read(self, session: Session, docs: Sequence[Doc], peer: str) -> _Page:
        """The page's bookings and visits held here, and its audit entries already here, each read at once."""
        held = {name: KINDS[name].find_many(session, [d.uid for d in docs if d.kind == name])
                for name in ("bookings", "visits")}
        audit = [int(d.uid) for d in docs if d.kind == "audit" and d.uid.isdigit()]
        appended = set(session.scalars(select(AuditEntry.origin_id).where(
            AuditEntry.origin == peer, AuditEntry.origin_id.in_(audit)))) if audit else set()
        return _Page(peer, Applied(), held, {i for i in appended if i is not None})

    def _elsewhere(self, session: Session, page: _Page, doc: Doc, values: dict[str, Any] | None, scope: str) -> bool:
        """Whether a document, or the row it would change here, belongs to another site than `scope`."""
        if values is not None and self._journal.scope(session, SimpleNamespace(**values)) != scope:
            return True
        held = page.held.get(doc.kind)
        local = held.get(doc.uid) if held is not None else KINDS[doc.kind].find(session, doc.uid)
        return local is not None and self._journal.scope(session, local) != scope

    def _bookings(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        if values is None or values["id"] != uid:
            raise DocError(f"bookings: {uid} is not the document's row")
        self._known(session, page, values["station_id"], values["gp"])
        local = page.held["bookings"].get(uid)
        if local is not None and not newer(values, local):
            return
        before = local.status if local is not None else None
        lost = False
        if values["status"] == "booked":
            rival = session.scalar(select(Booking).where(
                Booking.station_id == values["station_id"], Booking.slot_start == values["slot_start"],
                Booking.status == "booked", Booking.id != uid))
            if rival is not None and keeps_slot(rival, values):
                lost = True
            elif rival is not None:
                page.out.conflicts.append(self._conflict(session, rival))
        if local is None:
            local = Booking(**values)
            session.add(local)
        else:
            for name, value in values.items():
                setattr(local, name, value)
        if lost:
            page.out.conflicts.append(self._conflict(session, local))
        else:
            applied_from(session, "bookings", uid, page.peer)
            if values["status"] == "conflict" and before != "conflict":  # the peer found the collision first
                page.out.conflicts.append(self._tell_conflict(session, local))
        page.out.bookings.append(BookingView.of(local))

    def _conflict(self, session: Session, row: Booking) -> BookingView:
        """`row` lost its slot: in conflict, its patient told (on the department's hub), written now."""
        now = datetime.fromtimestamp(self._wall(), UTC)
        row.status = "conflict"
        row.reason = CONFLICT_REASON.get(row.language, CONFLICT_REASON["fr"])
        # strictly newer than the live version it ends, whatever the two hubs' clocks say, so that version sent
        # again (a page cut and resent) changes nothing
        row.changed_at, row.changed_on = max(now, row.changed_at + STEP), self._config.origin
        made_here(session, "bookings", row.id)
        session.add(AuditEntry(at=now, actor=ACTOR, action="booking in conflict", subject=row.id))
        log.info("synchronisation: booking %s lost its slot to one booked first: in conflict", row.id)
        return self._tell_conflict(session, row)

    def _tell_conflict(self, session: Session, row: Booking) -> BookingView:
        """A booking now in conflict here: its messages not sent yet dropped (a confirmation written on board
        while cut off tells of a slot it lost), and on the department's hub its patient told."""
        session.flush()
        session.execute(delete(OutboxMessage).where(OutboxMessage.booking_id == row.id,
                                                    OutboxMessage.sent_at.is_(None)))
        view = BookingView.of(row)
        if self._announce is not None:
            self._announce(session, view, "cancellation")
        return view

    def _visits(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        if values is None or values["id"] != uid:
            raise DocError(f"visits: {uid} is not the document's row")
        local = page.held["visits"].get(uid)
        if local is not None and not newer(values, local):
            return
        applied_from(session, "visits", uid, page.peer)
        if local is None:
            session.add(Visit(**values, reason=""))  # the reason stays on the hub it was told to
        else:
            for name, value in values.items():
                setattr(local, name, value)

    def _stops(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        """A stop's columns have one owner each: the vehicle's secretary opens and closes it, the department's
        coordinators change the programme. Each hub takes from the other only the columns that hub owns, so
        an opening made offline and a change of hours made meanwhile both hold."""
        if values is None or f"{values['site_code']}/{values['day'].isoformat()}" != uid:
            raise DocError(f"stops: {uid} is not the document's row")
        local = session.get(Stop, (values["site_code"], values["day"]))
        if local is None:
            applied_from(session, "stops", uid, page.peer)
            session.add(Stop(**values))
            page.out.stops = True
            return
        owned = STOP_PROGRAMME if self._config.vehicle is not None else STOP_OPENING  # the sender's columns
        changes = {name: values[name] for name in owned if getattr(local, name) != values[name]}
        if not changes:
            return
        applied_from(session, "stops", uid, page.peer)
        for name, value in changes.items():
            setattr(local, name, value)
        if newer(values, local):
            local.changed_at, local.changed_on = values["changed_at"], values["changed_on"]
        page.out.stops = True

    def _gp_sessions(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        self._made_or_withdrawn(session, "gp_sessions", uid, values, page)

    def _closures(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        self._made_or_withdrawn(session, "closures", uid, values, page)

    def _made_or_withdrawn(self, session: Session, name: str, uid: str, values: dict[str, Any] | None,
                           page: _Page) -> None:
        kind = KINDS[name]
        if values is not None and values["uid"] != uid:
            raise DocError(f"{name}: {uid} is not the document's row")
        local = kind.find(session, uid)
        if values is not None and local is not None:
            return
        if values is not None:
            self._known(session, page, values.get("station_id"), values.get("username"))
        applied_from(session, name, uid, page.peer)
        if values is None and local is not None:
            session.delete(local)
        elif values is not None:
            session.add(kind.model(**values))
        session.flush()  # a uid withdrawn and made again in one page

    def _audit(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        if values is None or str(values["id"]) != uid:
            raise DocError(f"audit: {uid} is not the document's row")
        origin_id = values.pop("id")
        if origin_id not in page.audit_held:
            session.add(AuditEntry(**values, origin=page.peer, origin_id=origin_id))
            page.audit_held.add(origin_id)

    def _station_audit_heads(self, session: Session, uid: str, values: dict[str, Any] | None, page: _Page) -> None:
        if values is None or values["station_id"] != uid:
            return
        self._known(session, page, uid, None)
        local = session.get(StationAuditHead, uid)
        if local is not None and values["seq"] < local.seq:
            log.warning("synchronisation: station %s's audit chain head from %s goes back (%d, here %d): refused",
                        uid, page.peer, values["seq"], local.seq)
            return
        if local is not None and values["seq"] == local.seq:
            if values["hash"] != local.hash:
                log.warning("synchronisation: station %s's audit chain head %d from %s has another hash: refused",
                            uid, local.seq, page.peer)
            return
        applied_from(session, "station_audit_heads", uid, page.peer)
        session.merge(StationAuditHead(**values))

    def _known(self, session: Session, page: _Page, station: str | None, gp: str | None) -> None:
        """Nothing when the station and GP a row names are known here; else DocError, which refuses the whole page
        (its cursor stays where it was): skipping the row would lose it for good, while the page is applied
        once both hubs' stores hold them (docs/design.md, "Accounts in the store")."""
        known = page.known.get((station, gp))
        if known is None:
            known = (station is None or session.get(Station, station) is not None) and (
                gp is None or session.get(Gp, gp) is not None)
            page.known[(station, gp)] = known
        if not known:
            raise DocError(f"a row names station {station} or GP {gp}, which this hub's accounts do not hold: create "
                           "them on both hubs (`cabin hub accounts`, /accounts, or the files' [[stations]] and "
                           "[[gps]]), and synchronisation resumes")
