"""The coordinator's console, its API (docs/design.md, "The coordinator's console"): a coordinator books by
phone for any site, searches free slots across sites, cancels, moves, marks no-shows, reads each cabin's
day, resends confirmations, enters GP sessions and closures. Every change goes through `Book`, which
writes its audit entry with the coordinator's username as actor; a GP's login is refused here (403).

Routes under `/api/coordinator/`: `GET sites`, `GET slots?from=&days=&site=&gp=`, `GET day?site=&date=`,
`GET sessions?from=&days=&gp=`, `GET bookings/{code}`; `POST bookings` (a BookingRequest),
`POST bookings/{code}/cancel {reason}`, `.../move {start, station?}`, `.../no-show`, `.../resend`,
`POST sessions {gp, date, from, to, stations}`, `POST sessions/{id}/withdraw`,
`POST closures {site, station?, from, to, from_time?, to_time?, reason}`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, time, timedelta

from aiohttp import web

from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.duty import Handler, session_span, stations_field
from hub.booking.records import BookingRequest
from hub.booking.wire import (
    booking_json,
    json_body,
    local,
    model,
    parse_clock,
    parse_day,
    parse_days,
    parse_moment,
    session_json,
    slot_json,
    text_field,
)
from hub.config import HubConfig
from hub.errors import Refusal

CODE = r"{code:[0-9A-Za-z -]{1,20}}"


class CoordinatorDesk:
    """The coordinator routes over the book, for a logged-in coordinator only."""

    def __init__(self, book: Book, logins: Logins, config: HubConfig) -> None:
        self._book = book
        self._logins = logins
        self._config = config

    def routes(self, from_page: Callable[[Handler], Handler]) -> list[web.AbstractRouteDef]:
        """Every route; `from_page` guards the changes (the hub's origin and a JSON body)."""
        base = "/api/coordinator"
        return [
            web.get(f"{base}/sites", self.sites),
            web.get(f"{base}/slots", self.slots),
            web.get(f"{base}/day", self.day),
            web.get(f"{base}/sessions", self.sessions),
            web.get(f"{base}/bookings/{CODE}", self.booking),
            web.post(f"{base}/bookings", from_page(self.book)),
            web.post(f"{base}/bookings/{CODE}/cancel", from_page(self.cancel)),
            web.post(f"{base}/bookings/{CODE}/move", from_page(self.move)),
            web.post(f"{base}/bookings/{CODE}/no-show", from_page(self.no_show)),
            web.post(f"{base}/bookings/{CODE}/resend", from_page(self.resend)),
            web.post(f"{base}/sessions", from_page(self.publish)),
            web.post(rf"{base}/sessions/{{id:\d{{1,12}}}}/withdraw", from_page(self.withdraw)),
            web.post(f"{base}/closures", from_page(self.close)),
        ]

    # Reading.

    async def sites(self, request: web.Request) -> web.StreamResponse:
        """The sites with their cabins, and the GPs, for the console's choices."""
        self._logins.coordinator(request)
        labels = {s.id: s.site for s in self._book.accounts.stations}
        return web.json_response({
            "sites": [{"code": s.code, "name": s.name, "town": s.town, "address": s.address, "mobile": s.mobile,
                       "timezone": s.timezone,
                       "cabins": [{"id": c, "label": labels[c]} for c in self._book.accounts.cabins(s.code)]}
                      for s in self._config.sites],
            "gps": [{"username": g.username, "name": g.identity.name} for g in self._book.accounts.gps],
        })

    async def slots(self, request: web.Request) -> web.StreamResponse:
        """Free slots of one site or all, over one day or several, of one GP or any."""
        self._logins.coordinator(request)
        query = request.query
        first = parse_day(query.get("from"), "from")
        days = parse_days(query.get("days"))
        gp = query.get("gp") or None
        codes = [query["site"]] if query.get("site") else [s.code for s in self._config.sites]
        found = [slot for code in codes for slot in await self._book.free_slots(code, first, days, gp=gp)]
        found.sort(key=lambda s: (s.start, s.site_code, s.station_id))
        return web.json_response({"slots": [slot_json(s, self._config) for s in found]})

    async def day(self, request: web.Request) -> web.StreamResponse:
        """Each cabin of a site on one local day: its bookings, live or not, by time."""
        self._logins.coordinator(request)
        site = self._book.site(request.query.get("site", ""))
        day = parse_day(request.query.get("date"))
        labels = {s.id: s.site for s in self._book.accounts.stations}
        cabins = [{"id": c, "label": labels[c],
                   "bookings": [booking_json(b, self._config) for b in await self._book.day_list(c, day)]}
                  for c in self._book.accounts.cabins(site.code)]
        return web.json_response({"site": site.code, "date": day.isoformat(), "cabins": cabins})

    async def sessions(self, request: web.Request) -> web.StreamResponse:
        """GP sessions over local days of one site (its cabins), or of every site (the first site's days)."""
        self._logins.coordinator(request)
        query = request.query
        first = parse_day(query.get("from"), "from")
        days = parse_days(query.get("days"))
        site = self._book.site(query["site"]) if query.get("site") else None
        zone = (site or self._config.sites[0]).zone if site or self._config.sites else UTC
        start = local(first, time(), zone)
        found = await self._book.sessions(start, local(first + timedelta(days=days), time(), zone),
                                          username=query.get("gp") or None)
        cabins = self._book.accounts.cabins(site.code) if site is not None else None
        return web.json_response({"sessions": [session_json(s, self._config, self._book.accounts) for s in found
                                               if cabins is None or s.station_id in cabins]})

    async def booking(self, request: web.Request) -> web.StreamResponse:
        """One booking by its code, to read it to the caller."""
        self._logins.coordinator(request)
        found = await self._book.find(request.match_info["code"])
        if found is None:
            raise Refusal(404, "unknown_booking", "no booking has this code")
        return web.json_response({"booking": booking_json(found, self._config)})

    # Changing: the coordinator's username is each change's actor.

    async def book(self, request: web.Request) -> web.StreamResponse:
        """Book by phone: the same request as the public page, on the "phone" channel."""
        who = self._logins.coordinator(request)
        booking = model(BookingRequest, await json_body(request))
        made = await self._book.book(booking, actor=who.username, channel="phone")
        return web.json_response({"booking": booking_json(made, self._config)})

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        reason = text_field(await json_body(request), "reason")
        done = await self._book.cancel(request.match_info["code"], actor=who.username, reason=reason)
        return web.json_response({"booking": booking_json(done, self._config)})

    async def move(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        body = await json_body(request)
        station = body.get("station")
        if station is not None and not isinstance(station, str):
            raise Refusal(400, "bad_request", "station is a cabin id")
        done = await self._book.move(request.match_info["code"], parse_moment(body.get("start")), actor=who.username,
                                     station=station or None)
        return web.json_response({"booking": booking_json(done, self._config)})

    async def no_show(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        done = await self._book.no_show(request.match_info["code"], actor=who.username)
        return web.json_response({"booking": booking_json(done, self._config)})

    async def resend(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        done = await self._book.resend(request.match_info["code"], actor=who.username)
        return web.json_response({"booking": booking_json(done, self._config)})

    async def publish(self, request: web.Request) -> web.StreamResponse:
        """Enter a session for any GP."""
        who = self._logins.coordinator(request)
        body = await json_body(request)
        gp = body.get("gp")
        if not isinstance(gp, str):
            raise Refusal(400, "bad_request", "gp is a GP's username")
        stations = stations_field(body)
        start, end = session_span(self._config, self._book.accounts, stations, parse_day(body.get("date")),
                                  body.get("from"), body.get("to"))
        made = await self._book.publish_session(gp, stations, start, end, actor=who.username)
        return web.json_response({"sessions": [session_json(s, self._config, self._book.accounts) for s in made]})

    async def withdraw(self, request: web.Request) -> web.StreamResponse:
        """Withdraw any GP's session: the live bookings it leaves without a GP on duty, to call."""
        who = self._logins.coordinator(request)
        left = await self._book.withdraw_session(int(request.match_info["id"]), actor=who.username)
        return web.json_response({"bookings": [booking_json(b, self._config) for b in left]})

    async def close(self, request: web.Request) -> web.StreamResponse:
        """Close a site (a holiday) or a cabin (out of service) from one day (and time) to another: the
        bookings it hit, cancelled, each with its phone number to call."""
        who = self._logins.coordinator(request)
        body = await json_body(request)
        site = self._book.site(str(body.get("site", "")))
        station = body.get("station") or None
        if station is not None and not isinstance(station, str):
            raise Refusal(400, "bad_request", "station is a cabin id")
        first, last = parse_day(body.get("from"), "from"), parse_day(body.get("to"), "to")
        start = local(first, parse_clock(body["from_time"], "from_time") if body.get("from_time") else time(),
                      site.zone)
        end = (local(last, parse_clock(body["to_time"], "to_time"), site.zone) if body.get("to_time")
               else local(last + timedelta(days=1), time(), site.zone))
        if end - start > timedelta(days=366):
            raise Refusal(422, "invalid_closure", "a closure lasts a year at most")
        hit = await self._book.close(site.code, start, end, reason=text_field(body, "reason"), actor=who.username,
                                     station=station)
        return web.json_response({"bookings": [booking_json(b, self._config) for b in hit]})
