"""GPs publish their own sessions on the console (docs/design.md, "The coordinator's console"):
`GET /api/sessions` (her upcoming sessions and the bookable cabins she is given), `POST /api/sessions`
{date, from, to, stations} and `POST /api/sessions/{id}/withdraw`. A session's hours are local times
of its cabins' site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from hub.accounts import AccountDirectory
from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.wire import json_body, local, parse_clock, parse_day, session_json
from hub.config import HubConfig
from hub.errors import Refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]  # a route's handler


def session_span(config: HubConfig, accounts: AccountDirectory, stations: Sequence[str], day: date, opens: object,
                 closes: object) -> tuple[datetime, datetime]:
    """A session's start and end from a day and its hours (HH:MM), local to its cabins' site; the cabins
    must stand at sites of one time zone."""
    if not stations:
        raise Refusal(422, "invalid_session", "a session covers at least one cabin")
    zones = set()
    for station_id in stations:
        account = accounts.station(station_id)
        site = config.site(account.site_code) if account is not None and account.site_code else None
        if site is None:
            raise Refusal(404, "unknown_station", f"there is no bookable cabin {station_id!r}")
        zones.add(site.zone)
    if len(zones) > 1:
        raise Refusal(422, "invalid_session", "one session covers cabins of one time zone")
    zone = zones.pop()
    return local(day, parse_clock(opens, "from"), zone), local(day, parse_clock(closes, "to"), zone)


def stations_field(body: dict[str, Any]) -> list[str]:
    stations = body.get("stations")
    if not isinstance(stations, list) or not all(isinstance(s, str) and len(s) <= 64 for s in stations) \
            or len(stations) > 50:
        raise Refusal(400, "bad_request", "stations is a list of cabin ids")
    return list(dict.fromkeys(stations))


class GpDuty:
    """The GP console's sessions routes, over the book, for the logged-in GP only."""

    def __init__(self, book: Book, logins: Logins, config: HubConfig) -> None:
        self._book = book
        self._logins = logins
        self._config = config

    def routes(self, from_page: Callable[[Handler], Handler]) -> list[web.AbstractRouteDef]:
        return [
            web.get("/api/sessions", self.upcoming),
            web.post("/api/sessions", from_page(self.publish)),
            web.post(r"/api/sessions/{id:\d{1,12}}/withdraw", from_page(self.withdraw)),
        ]

    async def upcoming(self, request: web.Request) -> web.StreamResponse:
        """Her sessions from now to the booking horizon, and the bookable cabins she may publish for."""
        _, account = self._logins.session(request)
        now = self._book.now()
        sessions = await self._book.sessions(now, now + timedelta(days=self._config.booking.horizon_days),
                                             username=account.username)
        given = [s for s in self._book.accounts.stations if s.id in account.stations and s.site_code]
        zones = {site.code: site.timezone for site in self._config.sites}
        cabins = list({s.id: {"id": s.id, "label": s.site, "site": s.site_code, "timezone": zones[s.site_code]}
                       for s in given if s.site_code}.values())
        return web.json_response({"sessions": [session_json(s, self._config, self._book.accounts) for s in sessions],
                                  "cabins": cabins})

    async def publish(self, request: web.Request) -> web.StreamResponse:
        _, account = self._logins.session(request)
        body = await json_body(request)
        stations = stations_field(body)
        others = [s for s in stations if s not in account.stations]
        if others:
            raise Refusal(403, "not_given", f"you are not given {', '.join(others)}")
        start, end = session_span(self._config, self._book.accounts, stations, parse_day(body.get("date")),
                                  body.get("from"), body.get("to"))
        if start < self._book.now():
            raise Refusal(422, "invalid_session", "a session is published before it starts")
        made = await self._book.publish_session(account.username, stations, start, end, actor=account.username)
        return web.json_response({"sessions": [session_json(s, self._config, self._book.accounts) for s in made]})

    async def withdraw(self, request: web.Request) -> web.StreamResponse:
        """Take her own session back: how many live bookings it leaves without a GP (the coordinator calls them)."""
        _, account = self._logins.session(request)
        left = await self._book.withdraw_session(int(request.match_info["id"]), actor=account.username,
                                                 username=account.username)
        return web.json_response({"left_without_gp": len(left)})
