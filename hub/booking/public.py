"""The public booking page and its API: patients book and cancel with no account (docs/design.md,
"The public booking page").

`GET /book/` serves the page (`hub/booking_page/`); `GET /api/public/sites` lists the bookable sites
with their address and weekly hours, or a mobile unit's next stops; `GET /api/public/slots` the
free times of a site, merged across its cabins, with the GPs on duty; `POST /api/public/bookings`
books one (201 with the code); `POST /api/public/cancel` cancels with the code and birth date.
Nothing here lists who booked: a booking is read back only by its code and birth date, to cancel
it. Every request counts against its client address's limits ([public], read as [login] says);
past one, 429 with Retry-After. The audit trail names the actor "online booking", never the patient.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from config.intervals import WEEKDAYS
from hub.auth import LoginLimiter, client_address
from hub.booking.book import Book
from hub.booking.records import BookingRequest, BookingView, FreeSlot
from hub.booking.wire import json_body
from hub.config import HubConfig, SiteSection
from hub.errors import Refusal, error_response
from hub.files import static_file
from protocol.booking_code import display_code

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent.parent / "booking_page"
ACTOR = "online booking"
NEXT_STOPS = 8  # a mobile unit's stops the page lists
MAX_DAYS = 14  # days of free slots one request may ask for
HOUR_S = 3600.0
MINUTE_S = 60.0
OPTIONAL = ("gp", "representative", "phone", "email")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PublicHandler = Callable[[web.Request, str, float], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Stop:
    """Where a mobile unit parks on a date, and its hours there."""

    date: str
    place: str
    address: str
    hours: tuple[str, ...]
    bookable: bool  # a free slot is left that day


@dataclass(frozen=True)
class PublicSite:
    """A site as the public page shows it: never its cabins."""

    code: str
    name: str
    town: str
    address: str
    mobile: bool
    hours: dict[str, tuple[str, ...]]  # weekday ("mon") to its opening hours, in week order
    stops: tuple[Stop, ...]


@dataclass(frozen=True)
class GpOnDuty:
    """A GP the patient may choose: her username (what a booking names) and her name."""

    id: str
    name: str


@dataclass(frozen=True)
class PublicSlot:
    """A free time at a site, once whatever the number of cabins free then, local to the site."""

    start: str
    date: str
    time: str
    end_time: str
    gps: tuple[GpOnDuty, ...]


def next_stops(site: SiteSection, today: date) -> list[date]:
    """The days of a mobile unit's next stops the page lists, from `today` (its local date)."""
    return sorted(s.date for s in site.stops if s.date >= today)[:NEXT_STOPS]


def public_site(site: SiteSection, today: date, bookable: frozenset[date] = frozenset()) -> PublicSite:
    """What the page shows of `site` on `today` (its local date): hours, or its next stops from today,
    each saying whether it is in `bookable` (the days with a free slot left)."""
    stops = tuple(Stop(s.date.isoformat(), s.place, s.address, tuple(str(i) for i in s.hours), s.date in bookable)
                  for s in (site.stop_on(day) for day in next_stops(site, today)) if s is not None)
    hours = {day: tuple(str(i) for i in site.hours.on(n)) for n, day in enumerate(WEEKDAYS) if site.hours.on(n)}
    return PublicSite(site.code, site.name, site.town, site.address, site.mobile, hours, stops)


def place_of(site: SiteSection, day: date) -> tuple[str, str]:
    """Where a patient goes on `day`: (place, street address), a mobile unit's stop that day or the site."""
    stop = site.stop_on(day)
    return (stop.place, stop.address) if stop is not None else (site.name, site.address)


def merged_slots(slots: Sequence[FreeSlot], site: SiteSection, names: Mapping[str, str]) -> list[PublicSlot]:
    """Free slots of several cabins as times shown once each, with every GP on duty at that time in any
    of them (`names`: the GPs a patient may choose, by username), soonest first."""
    ends: dict[datetime, datetime] = {}
    gps: dict[datetime, set[str]] = {}
    for slot in slots:
        ends[slot.start] = max(ends.get(slot.start, slot.end), slot.end)
        gps.setdefault(slot.start, set()).update(g for g in slot.gps if g in names)
    out = []
    for start in sorted(ends):
        local, end = start.astimezone(site.zone), ends[start].astimezone(site.zone)
        out.append(PublicSlot(local.isoformat(), local.date().isoformat(), f"{local:%H:%M}", f"{end:%H:%M}",
                              tuple(GpOnDuty(g, names[g]) for g in sorted(gps[start]))))
    return out


def booking_request(body: Mapping[str, object]) -> BookingRequest:
    """The booking a page's form asks for, or a refusal: the terms accepted, the fields valid (their
    names in the refusal, never their values), no cabin chosen (that is a coordinator's)."""
    if body.get("terms_accepted") is not True:
        raise Refusal(422, "terms_not_accepted", "accept the terms of use to book")
    fields = {k: v for k, v in body.items() if k != "terms_accepted"}
    if "station" in fields:
        raise Refusal(422, "invalid_booking", "the cabin is chosen by the hub", fields=["station"])
    for name in OPTIONAL:
        if isinstance(fields.get(name), str) and not str(fields[name]).strip():
            fields[name] = None
    try:
        return BookingRequest.model_validate(fields)
    except ValidationError as exc:
        wrong = sorted({".".join(str(p) for p in error["loc"]) or "body" for error in exc.errors()})
        raise Refusal(422, "invalid_booking", f"check these fields: {', '.join(wrong)}", fields=wrong) from None


class PublicBooking:
    """The public page's routes over the hub's book; `monotonic` times the limits per client address."""

    def __init__(self, book: Book, config: HubConfig, monotonic: Callable[[], float], *,
                 page_dir: Path = PAGE_DIR) -> None:
        self._book = book
        self._config = config
        self._page_dir = page_dir
        limits = config.public
        self._bookings = LoginLimiter(limits.bookings_per_address_per_hour, HOUR_S, monotonic)
        self._cancels = LoginLimiter(limits.failed_cancels_per_address_per_hour, HOUR_S, monotonic)
        self._reads = LoginLimiter(limits.reads_per_address_per_minute, MINUTE_S, monotonic)

    def routes(self) -> list[web.AbstractRouteDef]:
        """The page and its API."""
        return [
            web.get("/book", self._to_page),
            web.get("/book/", self._page),
            web.get("/book/{path:.+}", self._file),
            web.get("/api/public/sites", self._limited(self._reads, "look-ups", self._sites)),
            web.get("/api/public/slots", self._limited(self._reads, "look-ups", self._slots)),
            web.post("/api/public/bookings", self._limited(self._bookings, "bookings", self._booking)),
            web.post("/api/public/cancel", self._limited(self._cancels, "failed cancellations", self._cancel)),
        ]

    async def _to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/book/")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return static_file(self._page_dir, "index.html", "the booking page")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return static_file(self._page_dir, request.match_info["path"], "the booking page")

    def _limited(self, limiter: LoginLimiter, what: str, handler: PublicHandler) -> Handler:
        """`handler`, given the client's address and the time its request was counted under it, once
        `limiter` lets the address through; a 429 with Retry-After otherwise."""
        async def limited(request: web.Request) -> web.StreamResponse:
            address = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                     self._config.login.trusted_proxies)
            wait = limiter.retry_after(address)
            if wait > 0:
                seconds = math.ceil(wait)
                log.warning("public %s from %s refused: over its limit", what, address)
                response = error_response(429, "rate_limited", f"too many {what} from your address: try again "
                                          "later", retry_after_s=seconds)
                response.headers["Retry-After"] = str(seconds)
                return response
            return await handler(request, address, limiter.count(address))
        return limited

    # The API.

    async def _sites(self, request: web.Request, address: str, stamp: float) -> web.StreamResponse:
        now = self._book.now()
        sites = [asdict(public_site(site, now.astimezone(site.zone).date(),
                                    await self._bookable(site, now.astimezone(site.zone).date())))
                 for site in self._book.programme.sites() if self._book.accounts.cabins(site.code)]
        return web.json_response({"sites": sites})

    async def _bookable(self, site: SiteSection, today: date) -> frozenset[date]:
        """The days of a mobile unit's next stops with a free slot left (none for a fixed site)."""
        days = next_stops(site, today)
        if not days:
            return frozenset()
        free = await self._book.free_slots(site.code, days[0], (days[-1] - days[0]).days + 1)
        return frozenset(slot.start.astimezone(site.zone).date() for slot in free)

    async def _slots(self, request: web.Request, address: str, stamp: float) -> web.StreamResponse:
        query = request.query
        site = self._book.site(query.get("site", ""))
        today = self._book.now().astimezone(site.zone).date()
        try:
            first = date.fromisoformat(query["day"]) if "day" in query else today
            days = int(query.get("days", "7"))
        except ValueError:
            raise Refusal(400, "bad_request", "day is a date like 2026-12-07, days a number") from None
        if not 1 <= days <= MAX_DAYS:
            raise Refusal(400, "bad_request", f"ask for 1 to {MAX_DAYS} days")
        gp = query.get("gp") or None
        names = self._book.accounts.gp_names()
        if gp is not None and gp not in names:
            raise Refusal(404, "unknown_gp", f"there is no GP {gp!r}")
        first = max(first, today)
        free = await self._book.free_slots(site.code, first, days, gp=gp)
        slots = [asdict(s) for s in merged_slots(free, site, names)]
        return web.json_response({"site": site.code, "today": today.isoformat(), "first_day": first.isoformat(),
                                  "days": days, "next_day": (first + timedelta(days=days)).isoformat(),
                                  "slots": slots})

    async def _booking(self, request: web.Request, address: str, stamp: float) -> web.StreamResponse:
        booked = await self._book.book(booking_request(await _body(request)), actor=ACTOR, channel="online")
        log.info("online booking %s made at site %s", booked.id, booked.site_code)
        return web.json_response(self._confirmation(booked), status=201)

    async def _cancel(self, request: web.Request, address: str, stamp: float) -> web.StreamResponse:
        body = await _body(request)
        code, birth = body.get("code"), body.get("birth_date")
        try:
            if not isinstance(code, str) or len(code) > 32 or not isinstance(birth, str):
                raise ValueError
            birth_date = date.fromisoformat(birth)
        except ValueError:
            raise Refusal(400, "bad_request", "send {\"code\": ..., \"birth_date\": \"YYYY-MM-DD\"}") from None
        cancelled = await self._book.cancel(code, actor=ACTOR, reason="cancelled online", birth_date=birth_date)
        self._cancels.refund(address, stamp)  # only wrong codes and birth dates count
        site = self._book.site(cancelled.site_code)
        local = cancelled.slot_start.astimezone(site.zone)
        return web.json_response({"code": display_code(cancelled.code), "status": cancelled.status,
                                  "site": site.name, "date": local.date().isoformat(), "time": f"{local:%H:%M}"})

    def _confirmation(self, booked: BookingView) -> dict[str, object]:
        """The one reply that carries the patient's data back: what the confirmation page shows."""
        site = self._book.site(booked.site_code)
        start, end = booked.slot_start.astimezone(site.zone), booked.slot_end.astimezone(site.zone)
        place, street = place_of(site, start.date())
        return {
            "code": display_code(booked.code), "site": {"code": site.code, "name": site.name},
            "place": place, "address": street, "start": start.isoformat(), "date": start.date().isoformat(),
            "time": f"{start:%H:%M}", "end_time": f"{end:%H:%M}",
            "gp": self._book.accounts.gp_names().get(booked.gp) if booked.gp else None,
            "patient_name": booked.patient_name, "birth_date": booked.birth_date.isoformat(),
            "representative": booked.representative, "phone": booked.phone, "email": booked.email,
            "language": booked.language,
        }


async def _body(request: web.Request) -> dict[str, object]:
    """A request's JSON object, or a refusal (415 for another type, 400 for anything but an object)."""
    if request.content_type != "application/json":
        raise Refusal(415, "unsupported_media_type", "send JSON (Content-Type: application/json)")
    return await json_body(request)
