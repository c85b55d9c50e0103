"""Each GP's sessions and bookings as an iCalendar feed (RFC 5545) at a secret URL (docs/design.md,
"FHIR and iCalendar").

GET /ical/<username>/<token>.ics, where the token is an HMAC of the username under [calendar] secret:
nothing is stored, a calendar app polls the URL, and a new secret revokes every URL at once. The feed
never names a patient: a booking is "Consultation" with its cabin, its site and its time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from icalendar import Calendar, Event

from hub.booking.book import Book
from hub.booking.records import BookingView, SessionView
from hub.config import HubConfig
from hub.errors import Refusal

PRODID = "-//cabin-station//hub book//EN"


def feed_token(secret: str, username: str) -> str:
    """The token of a GP's feed URL: HMAC-SHA256 of her username under the hub's calendar secret, base64url."""
    digest = hmac.new(secret.encode(), f"ical:{username}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def feed(name: str, sessions: Sequence[SessionView], bookings: Sequence[BookingView], places: dict[str, str],
         now: datetime, domain: str) -> bytes:
    """A GP's calendar: her sessions (cabin and site) and the bookings in them, without patients' names.

    `places` names each cabin's place ("cabin-nangis-1, Centre médico-social de Nangis"); a cancelled
    booking stays as a cancelled event so that calendar apps drop it."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Cabines — {name}")
    for session in sessions:
        event = _event(f"session-{session.id}@{domain}", now, session.start, session.end,
                       f"Permanence en cabine — {places[session.station_id]}", places[session.station_id])
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    for booking in bookings:
        event = _event(f"booking-{booking.id}@{domain}", now, booking.slot_start, booking.slot_end, "Consultation",
                       places[booking.station_id])
        event.add("status", "CANCELLED" if booking.status != "booked" else "CONFIRMED")
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def _event(uid: str, now: datetime, start: datetime, end: datetime, summary: str, location: str) -> Event:
    """One VEVENT of the feed: what every session and booking event holds."""
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("location", location)
    return event


class CalendarFeeds:
    """The GPs' feeds over the hub's book."""

    def __init__(self, book: Book, config: HubConfig) -> None:
        self._book = book
        self._config = config

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/ical/{username}/{token}.ics", self._feed)]

    def url(self, origin: str, username: str) -> str | None:
        """A GP's secret feed URL, or None when the hub has no [calendar] secret."""
        secret = self._config.calendar.secret
        if secret is None:
            return None
        return f"{origin}/ical/{username}/{feed_token(secret.get_secret_value(), username)}.ics"

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        username, token = request.match_info["username"], request.match_info["token"]
        secret = self._config.calendar.secret
        gp = self._book.accounts.gp(username)  # a disabled GP's feed is gone
        expected = feed_token(secret.get_secret_value(), username) if secret is not None else ""
        if gp is None or not expected or not hmac.compare_digest(token, expected):
            raise Refusal(404, "not_found", "no such calendar")
        now = self._book.now()
        start = now - timedelta(days=self._config.calendar.days_back)
        end = now + timedelta(days=self._config.booking.horizon_days)
        sessions = await self._book.sessions(start, end, username=username)
        bookings: list[BookingView] = []
        for station_id in dict.fromkeys(s.station_id for s in sessions):
            mine = [s for s in sessions if s.station_id == station_id]
            bookings += [b for b in await self._book.upcoming(station_id, start)
                         if b.gp in (None, username) and b.slot_start < end
                         and any(s.start <= b.slot_start and b.slot_end <= s.end for s in mine)]
        sites = {s.code: s.name for s in self._config.sites}
        places = {s.id: f"{s.id}, {sites.get(s.site_code or '', s.site)}" for s in self._book.accounts.stations}
        domain = urlsplit(self._config.hub.public_origin or "").hostname or "cabin-hub"
        body = feed(gp.identity.name, sessions, bookings, places, now, domain)
        response = web.Response(body=body, content_type="text/calendar", charset="utf-8")
        response.headers["Cache-Control"] = "private, no-store"
        return response
