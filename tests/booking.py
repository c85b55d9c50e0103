"""A hub configuration with bookable sites, and a Book over a store, for the booking tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import URL

from config.intervals import WeeklyHours
from hub.accounts import AccountDirectory
from hub.booking.book import Book
from hub.booking.programme import Programme
from hub.booking.records import BookingRequest
from hub.config import (
    SCRYPT_MIN_N,
    GpAccount,
    HubConfig,
    SiteSection,
    StationAccount,
    StopSection,
    hash_password,
    token_digest,
)
from hub.store import Store
from hub.store.accounts import import_accounts
from protocol.hub import GpIdentity

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris
WEEKDAY_HOURS = WeeklyHours.model_validate({day: ("09:00-12:30", "13:30-17:00")
                                            for day in ("mon", "tue", "wed", "thu", "fri")})
SITES = (
    SiteSection(code="NAN231", name="Centre médico-social de Nangis", town="Nangis",
                address="13 boulevard Voltaire, 77370 Nangis", hours=WEEKDAY_HOURS),
    SiteSection(code="CHE132", name="Maison départementale des solidarités de Chelles", town="Chelles",
                address="25 avenue du Gendarme Castermant, 77500 Chelles", hours=WEEKDAY_HOURS),
)
MOBILE = SiteSection(
    code="CHR180", name="Cabinet médical mobile du Cher", town="Cher", stops=(
        StopSection(date=MONDAY, place="Sancoins, place de la Libération", address="Place de la Libération, 18600 "
                    "Sancoins", hours=("09:00-12:00", "13:30-16:30")),  # type: ignore[arg-type]
        StopSection(date=date(2026, 12, 8), place="Lignières, parking de la salle des fêtes",
                    address="Rue de la Salle des Fêtes, 18160 Lignières", hours=("09:00-12:00",)),  # type: ignore[arg-type]
        StopSection(date=date(2026, 12, 10), place="Henrichemont, place Henri IV",
                    address="Place Henri IV, 18250 Henrichemont", hours=("09:00-12:00",)),  # type: ignore[arg-type]
    ))
VEHICLE_STATION = "vehicle-cher-1"
GPS = ("claire.martin", "paul.roux")
STATION_TOKENS = {"cabin-nangis-1": "nangis-token", "cabin-nangis-2": "nangis-2-token",
                  "cabin-chelles-1": "chelles-token"}


def at(day: date, hhmm: str) -> datetime:
    """A local time in Paris on `day`."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=PARIS)


def booking_config(**overrides: object) -> HubConfig:
    """Two sites, two cabins at Nangis and one at Chelles, two GPs given all three (password "secret")."""
    stations = tuple(StationAccount(id=sid, site=sid.split("-")[1].title(), token_sha256=token_digest(token),
                                    site_code="NAN231" if "nangis" in sid else "CHE132")
                     for sid, token in STATION_TOKENS.items())
    gps = tuple(GpAccount(username=name, password_hash=hash_password("secret", n=SCRYPT_MIN_N, p=1),
                          identity=GpIdentity(name=f"Dr {name.split('.')[0].title()}", rpps=f"1010101010{i}",
                                              address="1 place de la Mairie, 77370 Nangis", phone="01 99 00 00 01"),
                          stations=tuple(STATION_TOKENS))
                for i, name in enumerate(GPS))
    return HubConfig(sites=SITES, stations=stations, gps=gps, **overrides)  # type: ignore[arg-type]


def mobile_config(**overrides: object) -> HubConfig:
    """`booking_config` with the Cher's mobile unit (CHR180, three stops) and its vehicle's station, given both GPs."""
    base = booking_config()
    station = StationAccount(id=VEHICLE_STATION, site="Cher", token_sha256=token_digest("vehicle-token"),
                             site_code=MOBILE.code)
    gps = tuple(gp.model_copy(update={"stations": (*gp.stations, VEHICLE_STATION)}) for gp in base.gps)
    values: dict[str, object] = {"sites": (*SITES, MOBILE), "stations": (*base.stations, station), "gps": gps,
                                 **overrides}
    return HubConfig.model_validate(values)


class Wall:
    """Unix time the test moves."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def open_store(url: URL, config: HubConfig) -> AsyncIterator[Store]:
    """A fresh store at `url` with `config`'s accounts imported."""
    store = Store(url)
    await store.start()
    try:
        await store.run(lambda s: import_accounts(s, config, NOW))
        yield store
    finally:
        await store.stop()


@asynccontextmanager
async def open_book(url: URL, config: HubConfig | None = None,
                    wall: Callable[[], float] | None = None) -> AsyncIterator[Book]:
    """A Book over a fresh store at `url` with `config`'s accounts imported."""
    config = config or booking_config()
    wall = wall or Wall()
    async with open_store(url, config) as store:
        programme, accounts = await book_parts(store, config, wall)
        yield Book(store, config, wall, accounts=accounts, programme=programme)


async def book_parts(store: Store, config: HubConfig, wall: Callable[[], float]) -> tuple[Programme, AccountDirectory]:
    """What a Book over an open store stands on: its programme, started, and the store's accounts, read."""
    programme = Programme(store, config, wall)
    await programme.start()
    accounts = AccountDirectory(store, config, wall)
    await accounts.reload()
    return programme, accounts


def patient(start: datetime, *, site: str = "NAN231", name: str = "Camille Lefèvre",
            birth: date = date(1968, 4, 12), **fields: object) -> BookingRequest:
    """A booking request for an adult with an e-mail address."""
    values: dict[str, object] = {"site": site, "start": start, "patient_name": name, "birth_date": birth,
                                 "sex": "F", "email": "camille@example.org", **fields}
    return BookingRequest.model_validate(values)
