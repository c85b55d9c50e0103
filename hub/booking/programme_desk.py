"""The coordinator's "Programme" routes (docs/design.md, "The programme of stops"): a mobile unit's stops
read, added, changed and cancelled through `Programme`, with the coordinator's username as actor; before
confirming, the console asks which live bookings a change would cancel and which it would tell.

Routes under `/api/coordinator/programme`: `GET ?site=`, `GET affected?site=&date=&hours=&cancel=`
(`hours` as "09:00-12:00,13:30-16:30"); `POST stops {site, date, place, address, hours}`,
`POST stops/{site}/{date}/change {place?, address?, hours?, reason}`, `POST stops/{site}/{date}/cancel {reason}`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web

from hub.auth import Logins
from hub.booking.book import Book
from hub.booking.duty import Handler
from hub.booking.programme import StopChange, StopView, holds, stop_section
from hub.booking.wire import booking_json, json_body, parse_day, text_field
from hub.config import HubConfig, SiteSection
from hub.errors import Refusal

STOP = r"{site:[A-Z0-9]{3,12}}/{date:\d{4}-\d{2}-\d{2}}"


def stop_json(view: StopView, live: int | None = None) -> dict[str, Any]:
    """A stop for the console, with the number of its live bookings when known."""
    return {"site": view.site_code, "date": view.day.isoformat(), "place": view.place, "address": view.address,
            "hours": [str(i) for i in view.hours], "status": view.status, "open": view.open, "bookings": live}


def hours_field(value: object) -> list[str]:
    """Hours as a list of "HH:MM-HH:MM" or one text of them separated by commas; checked by `stop_section`."""
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise Refusal(422, "invalid_stop", "hours: a list of intervals like '09:00-12:00'", fields=["hours"])


def optional_text(body: dict[str, Any], name: str, limit: int) -> str | None:
    return text_field(body, name, limit=limit) if body.get(name) not in (None, "") else None


class ProgrammeDesk:
    """The programme routes over the book's programme, for a logged-in coordinator only."""

    def __init__(self, book: Book, logins: Logins, config: HubConfig) -> None:
        self._book = book
        self._logins = logins
        self._config = config

    def routes(self, from_page: Callable[[Handler], Handler]) -> list[web.AbstractRouteDef]:
        """Every route; `from_page` guards the changes (the hub's origin and a JSON body)."""
        base = "/api/coordinator/programme"
        return [
            web.get(base, self.stops),
            web.get(f"{base}/affected", self.affected),
            web.post(f"{base}/stops", from_page(self.add)),
            web.post(f"{base}/stops/{STOP}/change", from_page(self.change)),
            web.post(f"{base}/stops/{STOP}/cancel", from_page(self.cancel)),
        ]

    def _unit(self, code: str) -> SiteSection:
        site = self._book.site(code)
        if not site.mobile:
            raise Refusal(404, "not_mobile", f"{site.name} is not a mobile unit")
        return site

    async def stops(self, request: web.Request) -> web.StreamResponse:
        """A mobile unit's stops, planned and cancelled, each with its number of live bookings."""
        self._logins.coordinator(request)
        site = self._unit(request.query.get("site", ""))
        today = self._book.now().astimezone(site.zone).date()
        stops = [stop_json(s, len(await self._book.stop_bookings(site.code, s.day)) if s.day >= today else None)
                 for s in self._book.programme.stops(site.code)]
        return web.json_response({"site": site.code, "today": today.isoformat(), "stops": stops})

    async def affected(self, request: web.Request) -> web.StreamResponse:
        """What a change would do, changing nothing: the live bookings cancelled (new `hours`, or `cancel`)
        and those whose patients are told."""
        self._logins.coordinator(request)
        site = self._unit(request.query.get("site", ""))
        day = parse_day(request.query.get("date"))
        live = await self._book.stop_bookings(site.code, day)
        stop = self._book.programme.stop_on(site.code, day)
        kept = stop.hours if stop is not None else ()
        if request.query.get("cancel"):
            kept = ()
        elif request.query.get("hours"):
            kept = stop_section(day, "-", "-", hours_field(request.query["hours"])).hours
        lost = [b for b in live if not holds(kept, day, site.zone, b.slot_start, b.slot_end)]
        return web.json_response({"cancelled": [booking_json(b, self._config) for b in lost],
                                  "told": len(live) - len(lost)})

    async def add(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        body = await json_body(request)
        site = self._unit(str(body.get("site", "")))
        stop = stop_section(parse_day(body.get("date")), text_field(body, "place"),
                            text_field(body, "address", limit=300), hours_field(body.get("hours")))
        return self._answer(await self._book.programme.add_stop(site.code, stop, actor=who.username))

    async def change(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        body = await json_body(request)
        site, day = self._unit(request.match_info["site"]), self._day(request)
        hours = hours_field(body["hours"]) if body.get("hours") not in (None, "", []) else None
        change = await self._book.programme.change_stop(
            site.code, day, actor=who.username, reason=text_field(body, "reason"),
            place=optional_text(body, "place", 200), address=optional_text(body, "address", 300), hours=hours)
        return self._answer(change)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        who = self._logins.coordinator(request)
        body = await json_body(request)
        site, day = self._unit(request.match_info["site"]), self._day(request)
        return self._answer(await self._book.programme.cancel_stop(site.code, day, actor=who.username,
                                                                   reason=text_field(body, "reason")))

    def _day(self, request: web.Request) -> date:
        return parse_day(request.match_info["date"])

    def _answer(self, change: StopChange) -> web.StreamResponse:
        """The stop as changed, the bookings cancelled (to call, with their phone numbers), how many told."""
        return web.json_response({"stop": stop_json(change.stop),
                                  "cancelled": [booking_json(b, self._config) for b in change.cancelled],
                                  "told": len(change.told)})
