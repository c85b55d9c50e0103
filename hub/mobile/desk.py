"""The secretary's desk, its API on the vehicle's hub (docs/design.md, "The secretary's desk"): for a
logged-in secretary of the vehicle's site only (a coordinator or a GP gets 403). The reception does the
stop's day; phone bookings for the coming stops of her site go through the book on the "phone" channel.

Routes under `/api/desk/`: `GET day`, `GET stops`, `GET slots?from=&days=`; `POST stop {open}`,
`POST welcome {code, birth_date, reason}`, `POST walk-in {patient_name, birth_date, sex, representative?,
phone?, regular_doctor, reason}`, `POST queue {order: [visit ids]}`, `POST next`,
`POST visits/{id}/reason {reason}`, `POST visits/{id}/left`, `POST bookings` (a BookingRequest of her
site), `POST bookings/{code}/cancel {reason}`, `.../move {start}`, `.../no-show`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web

from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.desk import CODE
from hub.booking.duty import Handler
from hub.booking.records import BookingRequest, BookingView
from hub.booking.wire import booking_json, json_body, model, parse_day, parse_days, parse_moment, slot_json, text_field
from hub.config import CoordinatorAccount, HubConfig
from hub.errors import Refusal
from hub.mobile.reception import Day, Reception
from hub.mobile.visits import VisitView

VISIT = r"{id:[0-9a-f-]{36}}"
MAX_REASON = 500


def visit_json(visit: VisitView) -> dict[str, Any]:
    return {"id": visit.id, "booking_id": visit.booking_id, "ticket": visit.ticket, "position": visit.position,
            "reason": visit.reason, "status": visit.status, "arrived_at": visit.arrived_at.isoformat(),
            "called_at": visit.called_at.isoformat() if visit.called_at else None,
            "started_at": visit.started_at.isoformat() if visit.started_at else None,
            "ended_at": visit.ended_at.isoformat() if visit.ended_at else None}


def day_json(day: Day, config: HubConfig) -> dict[str, Any]:
    """The stop's day: each visit with its booking, and the bookings not welcomed."""
    bookings = {b.id: booking_json(b, config) for b in day.bookings}
    stop = day.stop
    cabin = day.cabin
    site = config.site(day.site_code)
    return {
        "date": day.day.isoformat(),
        "timezone": site.timezone if site is not None else "UTC",
        "stop": None if stop is None else {"place": stop.place, "address": stop.address, "status": stop.status,
                                           "hours": [str(h) for h in stop.hours], "open": stop.open},
        "bookings": list(bookings.values()),
        "visits": [{**visit_json(v), "booking": bookings.get(v.booking_id)} for v in day.visits],
        "cabin": {"online": day.online, "state": cabin.state if cabin else None,
                  "visit": cabin.visit if cabin else None},
        "answer": None if day.answer is None else vars(day.answer),
    }


class SecretaryDesk:
    """The desk's routes over the reception and the book."""

    def __init__(self, reception: Reception, book: Book, logins: Logins, config: HubConfig) -> None:
        self._reception = reception
        self._book = book
        self._logins = logins
        self._config = config

    def routes(self, from_page: Callable[[Handler], Handler]) -> list[web.AbstractRouteDef]:
        """Every route; `from_page` guards the changes (the hub's origin and a JSON body)."""
        base = "/api/desk"
        return [
            web.get(f"{base}/day", self.day),
            web.get(f"{base}/stops", self.stops),
            web.get(f"{base}/slots", self.slots),
            web.post(f"{base}/stop", from_page(self.set_open)),
            web.post(f"{base}/welcome", from_page(self.welcome)),
            web.post(f"{base}/walk-in", from_page(self.walk_in)),
            web.post(f"{base}/queue", from_page(self.reorder)),
            web.post(f"{base}/next", from_page(self.call_next)),
            web.post(f"{base}/visits/{VISIT}/reason", from_page(self.set_reason)),
            web.post(f"{base}/visits/{VISIT}/left", from_page(self.left)),
            web.post(f"{base}/bookings", from_page(self.book)),
            web.post(f"{base}/bookings/{CODE}/cancel", from_page(self.cancel)),
            web.post(f"{base}/bookings/{CODE}/move", from_page(self.move)),
            web.post(f"{base}/bookings/{CODE}/no-show", from_page(self.no_show)),
        ]

    def _secretary(self, request: web.Request) -> CoordinatorAccount:
        who = self._logins.secretary(request)
        if who.site_code != self._reception.site_code:
            raise Refusal(403, "not_your_site", "this vehicle's desk is for its own mobile unit's secretary")
        return who

    async def _json(self, payload: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({**payload, "day": day_json(await self._reception.day(), self._config)})

    # Reading.

    async def day(self, request: web.Request) -> web.StreamResponse:
        self._secretary(request)
        return await self._json({})

    async def stops(self, request: web.Request) -> web.StreamResponse:
        """The coming stops of her mobile unit, for phone bookings."""
        self._secretary(request)
        today = self._reception.today()
        return web.json_response({"stops": [
            {"date": s.day.isoformat(), "place": s.place, "address": s.address, "hours": [str(h) for h in s.hours]}
            for s in self._book.programme.stops(self._reception.site_code)
            if s.status == "planned" and s.day >= today]})

    async def slots(self, request: web.Request) -> web.StreamResponse:
        self._secretary(request)
        found = await self._book.free_slots(self._reception.site_code, parse_day(request.query.get("from"), "from"),
                                            parse_days(request.query.get("days")))
        return web.json_response({"slots": [slot_json(s, self._config) for s in found]})

    # The stop's day.

    async def set_open(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        open_ = (await json_body(request)).get("open")
        if not isinstance(open_, bool):
            raise Refusal(400, "bad_request", "open is true or false")
        await self._reception.set_open(open_, actor=who.username)
        return await self._json({})

    async def welcome(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        body = await json_body(request)
        visit = await self._reception.welcome(text_field(body, "code", limit=20), _birth(body),
                                              text_field(body, "reason", limit=MAX_REASON), actor=who.username)
        return await self._json({"visit": visit_json(visit)})

    async def walk_in(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        body = await json_body(request)
        reason = text_field(body, "reason", limit=MAX_REASON)
        fields = {k: body.get(k) for k in ("patient_name", "birth_date", "sex", "representative", "phone",
                                           "regular_doctor") if body.get(k) not in (None, "")}
        asked = model(BookingRequest, {**fields, "site": self._reception.site_code,
                                       "start": self._reception.now().isoformat()})
        booking, visit = await self._reception.walk_in(asked, reason, actor=who.username)
        return await self._json({"booking": booking_json(booking, self._config), "visit": visit_json(visit)})

    async def reorder(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        order = (await json_body(request)).get("order")
        if not isinstance(order, list) or not all(isinstance(i, str) for i in order):
            raise Refusal(400, "bad_request", "order is the list of the waiting visits' ids")
        await self._reception.reorder(order, actor=who.username)
        return await self._json({})

    async def call_next(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        visit = await self._reception.call_next(actor=who.username)
        return await self._json({"visit": visit_json(visit)})

    async def set_reason(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        reason = text_field(await json_body(request), "reason", limit=MAX_REASON)
        visit = await self._reception.set_reason(request.match_info["id"], reason, actor=who.username)
        return await self._json({"visit": visit_json(visit)})

    async def left(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        visit = await self._reception.left(request.match_info["id"], actor=who.username)
        return await self._json({"visit": visit_json(visit)})

    # Bookings of her site.

    async def book(self, request: web.Request) -> web.StreamResponse:
        """Book by phone at one of her mobile unit's coming stops."""
        who = self._secretary(request)
        asked = model(BookingRequest, await json_body(request))
        if asked.site != self._reception.site_code:
            raise Refusal(403, "not_your_site", "book at your own mobile unit's stops")
        made = await self._book.book(asked, actor=who.username, channel="phone")
        return web.json_response({"booking": booking_json(made, self._config)})

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        code = await self._own(request)
        reason = text_field(await json_body(request), "reason")
        return _booking(await self._book.cancel(code, actor=who.username, reason=reason), self._config)

    async def move(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        code = await self._own(request)
        start = parse_moment((await json_body(request)).get("start"))
        return _booking(await self._book.move(code, start, actor=who.username), self._config)

    async def no_show(self, request: web.Request) -> web.StreamResponse:
        who = self._secretary(request)
        await self._reception.no_show(await self._own(request), actor=who.username)
        return await self._json({})

    async def _own(self, request: web.Request) -> str:
        """The code in the path, of a booking of her site; a 404 refusal otherwise."""
        code = request.match_info["code"]
        found = await self._book.find(code)
        if found is None or found.site_code != self._reception.site_code:
            raise Refusal(404, "unknown_booking", "no booking of your mobile unit has this code")
        return code


def _birth(body: dict[str, Any]) -> date:
    return parse_day(body.get("birth_date"), "birth_date")


def _booking(view: BookingView, config: HubConfig) -> web.StreamResponse:
    return web.json_response({"booking": booking_json(view, config)})
