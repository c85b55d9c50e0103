"""A mobile unit's programme of stops in the hub's store (docs/design.md, "The programme of stops")."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.booking.programme import Programme
from hub.errors import Refusal
from hub.store.models import Stop
from tests.booking import MOBILE, MONDAY, Wall, mobile_config, open_book, open_store


async def test_the_files_stops_are_imported_once_and_the_store_keeps_its_own(store_url: URL) -> None:
    config = mobile_config()
    async with open_store(store_url, config) as store:
        programme = Programme(store, config, Wall())
        await programme.start()
        assert [s.day for s in programme.stops(MOBILE.code)] == [s.date for s in MOBILE.stops]

        def move(session: object) -> None:
            row = session.get(Stop, (MOBILE.code, MONDAY))  # type: ignore[attr-defined]
            row.place = "Sancoins, parking du marché"
        await store.run(move)
        again = Programme(store, config, Wall())
        await again.start()  # the file's stop of that day is the store's now: not imported over it
        assert again.stop_on(MOBILE.code, MONDAY).place == "Sancoins, parking du marché"  # type: ignore[union-attr]
        assert len(await store.run(lambda s: list(s.scalars(select(Stop))))) == len(MOBILE.stops)


async def test_a_cancelled_stop_leaves_the_site_a_mobile_unit_without_it(store_url: URL) -> None:
    async with open_book(store_url, mobile_config()) as book:
        programme = book.programme

        def cancel_all(session: object) -> None:
            for row in session.scalars(select(Stop)):  # type: ignore[attr-defined]
                row.status = "cancelled"
        await book._store.run(cancel_all)
        await programme.reload()
        site = programme.site(MOBILE.code)
        assert site is not None and site.mobile and site.stops == ()


async def test_the_secretary_opens_and_closes_the_days_stop_once(store_url: URL) -> None:
    async with open_book(store_url, mobile_config()) as book:
        programme = book.programme
        opened = await programme.set_open(MOBILE.code, MONDAY, True, actor="sophie")
        assert opened.open
        with pytest.raises(Refusal) as again:
            await programme.set_open(MOBILE.code, MONDAY, True, actor="sophie")
        assert again.value.code == "stop_open"
        closed = await programme.set_open(MOBILE.code, MONDAY, False, actor="sophie")
        assert not closed.open and closed.closed_at is not None
        with pytest.raises(Refusal) as none:
            await programme.set_open(MOBILE.code, date(2026, 12, 9), True, actor="sophie")
        assert none.value.code == "no_stop"


async def test_opening_a_stop_closes_one_left_open_on_an_earlier_day(store_url: URL) -> None:
    async with open_book(store_url, mobile_config()) as book:
        programme = book.programme
        await programme.set_open(MOBILE.code, MONDAY, True, actor="sophie")  # never closed on Monday
        tuesday = date(2026, 12, 8)
        opened = await programme.set_open(MOBILE.code, tuesday, True, actor="sophie")
        monday = programme.stop_on(MOBILE.code, MONDAY)
        assert opened.open and monday is not None and not monday.open and monday.closed_at is not None
