"""The bookings that lost their slot when the hubs synchronised, for the secretary to call their patients
(docs/design.md, "A day without network"): `GET /api/sync/conflicts`, for a secretary (her site) or a
coordinator (every site, or `?site=`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.records import BookingView
from hub.booking.wire import site_zone
from hub.config import CoordinatorAccount, HubConfig
from hub.errors import Refusal
from hub.notify import compose
from hub.store import Store
from hub.store.models import Booking

KEPT = timedelta(days=1)  # a conflict whose slot ended longer ago than this is no longer listed

_SAY = {
    "fr": ("Votre rendez-vous du {lost} ({place}) n'a pas pu être gardé : le créneau avait déjà été réservé pendant "
           "une coupure du réseau.", " Nous pouvons vous recevoir le {suggested}, au même arrêt.",
           " Il n'y a plus de place à cet arrêt ce jour-là : proposez un autre jour du programme."),
    "en": ("Your appointment on {lost} ({place}) could not be kept: the slot had already been booked while the "
           "network was down.", " We can see you on {suggested}, at the same stop.",
           " There is no room left at this stop that day: offer another day of the programme."),
}


def what_to_say(language: str, lost: str, place: str, suggested: str | None) -> str:
    """What the secretary tells the patient, in the patient's language: the lost slot, and the next free one."""
    said, offer, none = _SAY.get(language, _SAY["fr"])
    return said.format(lost=lost, place=place) + (offer.format(suggested=suggested) if suggested else none)


class ConflictList:
    """The route listing bookings in conflict, with what to say and the next free slot of their stop."""

    def __init__(self, store: Store, book: Book, logins: Logins, config: HubConfig) -> None:
        self._store = store
        self._book = book
        self._logins = logins
        self._config = config

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/api/sync/conflicts", self._list)]

    async def _list(self, request: web.Request) -> web.StreamResponse:
        _, account = self._logins.account(request)
        if not isinstance(account, CoordinatorAccount):
            raise Refusal(403, "not_a_coordinator", "this is for coordinators and secretaries")
        site = account.site_code if account.role == "secretary" else request.query.get("site")
        since = self._book.now() - KEPT

        def read(session: Session) -> list[BookingView]:
            query = select(Booking).where(Booking.status == "conflict", Booking.slot_end >= since)
            if site is not None:
                query = query.where(Booking.site_code == site)
            return [BookingView.of(r) for r in session.scalars(query.order_by(Booking.slot_start, Booking.id))]
        return web.json_response({"conflicts": [await self._json(view) for view in await self._store.run(read)]})

    async def _json(self, view: BookingView) -> dict[str, Any]:
        site = self._book.programme.site(view.site_code)
        zone = site_zone(self._config, view.site_code)
        day = view.slot_start.astimezone(zone).date()
        suggested: datetime | None = None
        place = view.site_code
        if site is not None:
            later = [s for s in await self._book.free_slots(site.code, day) if s.start > view.slot_start]
            suggested = later[0].start if later else None
            place = compose.place(site, day).name
        language = view.language if view.language in _SAY else "fr"
        words = (lambda moment: compose.when(moment, site, language)) if site is not None else datetime.isoformat
        return {
            "code": view.code, "patient_name": view.patient_name, "phone": view.phone, "email": view.email,
            "slot_start": view.slot_start.astimezone(zone).isoformat(), "place": place, "channel": view.channel,
            "what_to_say": what_to_say(language, words(view.slot_start), place,
                                       words(suggested) if suggested is not None else None),
            "suggested_start": suggested.astimezone(zone).isoformat() if suggested is not None else None,
        }
