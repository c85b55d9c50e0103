"""The hub's book under load: free-slot search and booking throughput with 10 cabins and 10,000 bookings.

The store (SQLite in a temporary directory by default, or `--url` a PostgreSQL database) holds 5
sites of 2 cabins, 5 GPs on duty every weekday from 26 weeks back to 4 weeks ahead, and 10,000
bookings on their slots (the past full, the coming weeks half full, one in ten cancelled).

(a) search: p99 latency of `Book.free_slots(site, day)` for a random site and a coming weekday
    (the sessions, closures and bookings read, the slots cut, the free ones kept). Reference: the
    bare query of the same rows (those three SELECTs, fetched, nothing computed) through the same
    store, alternating with the measured runs. Target: ratio <= 3.
(b) throughput: `Book.book` one after another into free slots (the slot checked again inside the
    transaction, the code drawn, the audit entry and the outbox hook written), as bookings per
    second. Reference: what any booking must at least do, through the same store: in one transaction,
    the bare query of (a) for the slot's site and day, and the INSERT of a booking row. The figure
    is the reference's rate divided by the book's (how many times slower a real booking is than
    that floor). Target: ratio <= 2.
(c) arrival: p99 of the time from `Book.book` returning on a real hub (serving the same store) to
    the booking written on the disk of a station connected to it: the hub's listener, the message
    over the station's WebSocket, its parse and dispatch, `AppointmentBook.apply` (each booking is
    then cancelled, and its cancellation awaited, so that the cabin's free slots serve again).
    Reference: that last step alone, the same station applying the same booking (under a fresh
    code) itself.
    Target: ratio <= 5.

    python -m bench.booking [--searches 300] [--bookings 200] [--arrivals 100] [--url postgresql://...] [--json]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import or_, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from bench.common import Figure, measure_and_report, parser, progress, ratio
from config.intervals import WeeklyHours
from config.schema import CheckInRules, HubSection
from hub.accounts import AccountDirectory
from hub.booking.book import Book
from hub.booking.feed import cabin_booking
from hub.booking.programme import Programme
from hub.booking.records import BookingRequest, person_digest
from hub.booking.slots import grid, intersect, opening
from hub.config import (
    SCRYPT_MIN_N,
    GpAccount,
    HubConfig,
    ListenSection,
    SiteSection,
    StationAccount,
    StoreSection,
    hash_password,
    token_digest,
)
from hub.server import Hub
from hub.store import Store
from hub.store.accounts import import_accounts
from hub.store.models import Booking, Closure, GpSession
from hygiene.audit import AuditTrail
from protocol.booking_code import new_code
from protocol.hub import CabinBooking, GpIdentity
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.storage import Database
from session.appointments import AppointmentBook
from station.hub_client import HubClient

NAME = "booking"
SITES = 5
CABINS_PER_SITE = 2
BOOKINGS = 10_000
WEEKS_BACK, WEEKS_AHEAD = 26, 4
NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # a Monday, 07:00 in Paris
HOURS = WeeklyHours.model_validate({day: ("09:00-12:30", "13:30-17:00") for day in ("mon", "tue", "wed", "thu", "fri")})
SEARCH_TARGET, BOOK_TARGET, ARRIVAL_TARGET = 3.0, 2.0, 5.0
TOKEN = "bench-station-token-0123456789"


def bench_config() -> HubConfig:
    """5 sites of 2 cabins, a GP given each site's cabins."""
    sites = tuple(SiteSection(code=f"STE{n:03d}", name=f"Site {n}", town=f"Town {n}", address=f"{n} rue de la Gare",
                              hours=HOURS) for n in range(SITES))
    stations = tuple(StationAccount(id=f"cabin-{s.code.lower()}-{c}", site=s.name, site_code=s.code,
                                    token_sha256=token_digest(f"{TOKEN}-{s.code}-{c}")) for s in sites
                     for c in range(CABINS_PER_SITE))
    gps = tuple(GpAccount(username=f"gp{n}", password_hash=hash_password("x", n=SCRYPT_MIN_N, p=1),
                          identity=GpIdentity(name=f"Dr {n}", rpps=f"1000000000{n}", address="Melun",
                                              phone="01 99 00 00 00"),
                          stations=tuple(st.id for st in stations if st.site_code == site.code))
                for n, site in enumerate(sites))
    return HubConfig(sites=sites, stations=stations, gps=gps)


def weekdays(first: date, last: date) -> list[date]:
    every = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in every if day.weekday() < 5]


def fill(session: Session, config: HubConfig, book: Book, rng: random.Random) -> int:
    """The sessions and bookings of the benchmark's store; how many bookings were written."""
    today = NOW.date()
    days = weekdays(today - timedelta(weeks=WEEKS_BACK), today + timedelta(weeks=WEEKS_AHEAD))
    slots: list[tuple[str, str, datetime, datetime, str]] = []
    for n, site in enumerate(config.sites):
        for day in days:
            open_ = opening(site, day)
            for cabin in config.cabins(site.code):
                session.add(GpSession(username=f"gp{n}", station_id=cabin, start=open_[0].start, end=open_[-1].end,
                                      created_by="bench"))
                for slot in grid(intersect(open_, open_), book.cut):
                    slots.append((site.code, cabin, slot.start, slot.end, f"gp{n}"))
    past = [s for s in slots if s[2] < NOW]
    future = [s for s in slots if s[2] >= NOW]
    chosen = rng.sample(future, len(future) // 2)
    chosen += rng.sample(past, min(len(past), BOOKINGS - len(chosen)))
    for n, (code, cabin, start, end, gp) in enumerate(chosen):
        session.add(_row(n, code, cabin, start, end, gp, "cancelled" if n % 10 == 0 else "booked"))
    return len(chosen)


def _row(n: int, site: str, cabin: str, start: datetime, end: datetime, gp: str | None, status: str) -> Booking:
    birth = date(1950 + n % 50, 1 + n % 12, 1 + n % 28)
    return Booking(id=str(uuid.uuid4()), code=new_code(), station_id=cabin, site_code=site, slot_start=start,
                   slot_end=end, gp=gp, patient_name=f"Patient {n}", birth_date=birth, sex="F", representative=None,
                   phone="01 99 00 00 00", email=None, language="fr", person=person_digest(f"Patient {n}", birth),
                   status=status, channel="online", created_at=NOW, created_by="bench", changed_at=NOW, reason=None)


def bare_rows(config: HubConfig, site: SiteSection, day: date) -> Callable[[Session], int]:
    """The SELECTs Book.free_slots makes for `site` on `day`, fetched and counted, nothing computed."""
    cabins = config.cabins(site.code)
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), site.zone)
    end = datetime.combine(day + timedelta(days=2), datetime.min.time(), site.zone)

    def read(session: Session) -> int:
        rows = list(session.scalars(select(GpSession).where(
            GpSession.station_id.in_(cabins), GpSession.start < end, GpSession.end > start)))
        rows += list(session.scalars(select(Closure).where(
            Closure.site_code == site.code, or_(Closure.station_id.is_(None), Closure.station_id.in_(cabins)),
            Closure.start < end, Closure.end > start)))
        rows += list(session.scalars(select(Booking).where(
            Booking.station_id.in_(cabins), Booking.status == "booked",
            Booking.slot_start < end, Booking.slot_end > start)))
        return len(rows)
    return read


def floor(config: HubConfig, site: SiteSection, day: date, row: Booking) -> Callable[[Session], None]:
    """What any booking must at least do: read the rows of its slot's day (`bare_rows`), then write its row
    (made a year later than the slot, so as not to take it from the book)."""
    read = bare_rows(config, site, day)

    def write(session: Session) -> None:
        read(session)
        session.add(row)
    return write


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


class Arrivals:
    """The station's appointment book, noting when each booking the hub sends is on its disk."""

    def __init__(self, book: AppointmentBook) -> None:
        self.book = book
        self.at: dict[tuple[str, str], float] = {}  # (code, status) to when it was on disk
        self.changed = asyncio.Event()

    async def replace(self, bookings: tuple[CabinBooking, ...]) -> None:
        await self.book.replace(bookings)

    async def apply(self, booking: CabinBooking) -> None:
        await self.book.apply(booking)
        self.at[booking.code, booking.status] = time.perf_counter()
        self.changed.set()

    async def on_disk(self, code: str, status: str) -> float:
        """When the booking `code` reached the disk with `status`."""
        async with asyncio.timeout(30):
            while (code, status) not in self.at:
                self.changed.clear()
                await self.changed.wait()
        return self.at[code, status]

    async def withdraw(self, code: str) -> None:
        await self.book.withdraw(code)


async def arrivals(url: URL, config: HubConfig, state_dir: Path, count: int) -> tuple[list[float], list[float]]:
    """(arrival, local apply) seconds of `count` bookings made on a hub at `url` for a station connected to it."""
    site = config.sites[0]
    cabin = config.cabins(site.code)[0]
    hub = Hub(config.model_copy(update={"hub": ListenSection(port=0), "store": StoreSection(
        url=url.render_as_string(hide_password=False))}), wall=NOW.timestamp)
    await hub.start()
    db = Database(state_dir)
    await db.start()
    clock = Clock(start=NOW)
    audit = AuditTrail(db)
    await audit.start()
    sink = Arrivals(AppointmentBook(db, audit=audit, clock=clock, rules=CheckInRules()))
    client = HubClient(HubSection(url=hub.station_url, station_id=cabin, token=SecretStr(f"{TOKEN}-{site.code}-0")),
                       clock, on_gp_join=_ignore, on_signal=_ignore, on_gp_left=_ignore, bookings=sink)
    await client.start()
    try:
        async with asyncio.timeout(30):
            await client.wait_connected()
        days = weekdays(NOW.date(), NOW.date() + timedelta(weeks=WEEKS_AHEAD) - timedelta(days=1))
        free = [slot for day in days for slot in await hub.book.free_slots(site.code, day) if slot.station_id == cabin]
        arrived, local = [], []
        for n in range(count):  # each booking cancelled once it arrived: its slot serves again
            slot = free[n % len(free)]
            request = BookingRequest(site=site.code, start=slot.start, station=cabin, patient_name=f"Arriving {n}",
                                     birth_date=date(1970, 1, 1), sex="F", phone="01 99 00 00 00")
            made = await hub.book.book(request, actor="bench", channel="online")
            made_at = time.perf_counter()
            arrived.append(await sink.on_disk(made.code, "booked") - made_at)
            await hub.book.cancel(made.code, actor="bench", reason="benchmark")
            await sink.on_disk(made.code, "cancelled")
            same = cabin_booking(made, None).model_copy(update={"code": new_code()})
            local.append(await timed(lambda: sink.book.apply(same)))  # noqa: B023 (awaited at once)
        return arrived, local
    finally:
        await client.stop()
        await audit.stop()
        await db.stop()
        await hub.stop()


async def _ignore(*_: object) -> None:
    """The GPs' messages: none come in this benchmark."""


async def measure(url: URL, searches: int, bookings: int, count: int, state_dir: Path) -> list[Figure]:
    config = bench_config()
    rng = random.Random(15)
    store = Store(url)
    await store.start()
    try:
        await store.run(lambda s: import_accounts(s, config, NOW))
        programme = Programme(store, config, NOW.timestamp)
        await programme.start()
        accounts = AccountDirectory(store, config, NOW.timestamp)
        await accounts.reload()
        book = Book(store, config, NOW.timestamp, accounts=accounts, programme=programme)
        written = await store.run(lambda s: fill(s, config, book, rng))
        progress(f"store {store.where}: {len(config.stations)} cabins, {written} bookings")
        days = weekdays(NOW.date(), NOW.date() + timedelta(weeks=WEEKS_AHEAD) - timedelta(days=1))
        searched, bare = [], []
        for n in range(searches):
            site, day = rng.choice(config.sites), rng.choice(days)
            read = bare_rows(config, site, day)
            searched.append(await timed(lambda: book.free_slots(site.code, day)))  # noqa: B023 (awaited at once)
            bare.append(await timed(lambda: store.run(read)))  # noqa: B023
            if (n + 1) % 100 == 0:
                progress(f"search {n + 1}/{searches}")
        free = [(site, slot) for site in config.sites for day in days
                for slot in await book.free_slots(site.code, day)]
        targets = rng.sample(free, min(bookings, len(free)))
        booked, inserted = [], []
        for n, (site, slot) in enumerate(targets):
            request = BookingRequest(site=site.code, start=slot.start, station=slot.station_id,
                                     patient_name=f"Bench Patient {n}", birth_date=date(1970, 1, 1), sex="M",
                                     phone="01 99 00 00 00")
            booked.append(await timed(lambda: book.book(request, actor="bench", channel="online")))  # noqa: B023
            row = _row(BOOKINGS + n, site.code, slot.station_id, slot.start + timedelta(days=365),
                       slot.end + timedelta(days=365), None, "booked")
            work = floor(config, site, slot.start.astimezone(site.zone).date(), row)
            inserted.append(await timed(lambda: store.run(work)))  # noqa: B023
        progress(f"booked {len(booked)} slots")
    finally:
        await store.stop()
    arrived, local = await arrivals(url, config, state_dir, count)
    progress(f"{len(arrived)} bookings reached the station")
    arrival_p99, local_p99 = p99(arrived) * 1000, p99(local) * 1000
    search_p99, bare_p99 = p99(searched) * 1000, p99(bare) * 1000
    book_rate, insert_rate = len(booked) / sum(booked), len(inserted) / sum(inserted)
    return [
        Figure("bare_query_p99", bare_p99, "ms", None, None, "reference"),
        Figure("slot_search_p99", search_p99, "ms", bare_p99, ratio(search_p99, bare_p99),
               f"ratio <= {SEARCH_TARGET:g}"),
        Figure("bare_read_insert_rate", insert_rate, "/s", None, None, "reference"),
        Figure("booking_rate", book_rate, "/s", insert_rate, ratio(insert_rate, book_rate),
               f"ratio <= {BOOK_TARGET:g} (slower than its bare floor)"),
        Figure("station_apply_p99", local_p99, "ms", None, None, "reference"),
        Figure("arrival_p99", arrival_p99, "ms", local_p99, ratio(arrival_p99, local_p99),
               f"ratio <= {ARRIVAL_TARGET:g}"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Free-slot search and booking throughput on the hub's book, against bare queries of the same rows.")
    p.add_argument("--searches", type=int, default=300, help="searches measured (default 300)")
    p.add_argument("--bookings", type=int, default=200, help="bookings made (default 200)")
    p.add_argument("--arrivals", type=int, default=100, help="bookings timed to the station (default 100)")
    p.add_argument("--url", help="a PostgreSQL database URL (default: SQLite in a temporary directory)")
    args = p.parse_args(argv)
    if args.searches < 100 or args.bookings < 1 or args.arrivals < 100:
        p.error("--searches and --arrivals must be at least 100 (a p99), --bookings at least 1")

    def run() -> list[Figure]:
        with tempfile.TemporaryDirectory(prefix="cabin-bench-booking-") as tmp:
            url = make_url(args.url) if args.url else URL.create("sqlite", database=str(Path(tmp) / "hub.sqlite3"))
            return asyncio.run(measure(url, args.searches, args.bookings, args.arrivals, Path(tmp) / "station"))
    return measure_and_report(NAME, run, as_json=args.json, errors=(StationError, OSError))


if __name__ == "__main__":
    sys.exit(main())
