"""Simulated patients book the way real ones do: on the hub's public booking API (docs/design.md,
"The public booking page"), the first free time at the cabin's site, then the code reaches the
cabin over its connection to the hub like any booking."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime

import aiohttp

from runtime.errors import StationError
from sim.seed import PATIENTS


class BookingFailed(StationError):
    """The hub refused to book a simulated patient, or gave no free time."""


@dataclass(frozen=True)
class Booked:
    """What the hub's confirmation gives the patient: the code (grouped) and the time."""

    code: str
    start: datetime


class HubBooker:
    """Books fictional patients at `site_code` through the hub at `hub_url` (its origin, as a browser's)."""

    def __init__(self, hub_url: str, site_code: str, rng: random.Random) -> None:
        self._url = hub_url
        self._site = site_code
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"Origin": self._url})

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def book(self, patient: tuple[str, date, str] | None = None) -> Booked:
        """Book the first free time from now for a fictional patient; BookingFailed saying why not."""
        assert self._session is not None, "start() the booker first"
        name, birth, sex = patient or self._rng.choice(PATIENTS)
        async with self._session.get(f"{self._url}/api/public/slots", params={"site": self._site, "days": "2"}) as r:
            found = await r.json()
        if r.status != 200:
            raise BookingFailed(f"the hub gave no free times: {found.get('message')} ({found.get('error')})")
        if not found["slots"]:
            raise BookingFailed(f"no free time at {self._site} today or tomorrow: no GP on duty, or all taken")
        body = {"site": self._site, "start": found["slots"][0]["start"], "patient_name": name,
                "birth_date": birth.isoformat(), "sex": sex, "phone": "01 99 00 00 00", "language": "fr",
                "terms_accepted": True}
        async with self._session.post(f"{self._url}/api/public/bookings", json=body) as r:
            made = await r.json()
        if r.status != 201:
            raise BookingFailed(f"the hub refused the booking: {made.get('message')} ({made.get('error')})")
        return Booked(made["code"], datetime.fromisoformat(made["start"]))
