"""The simulated secretary of a mobile unit: she works the desk the way a person does, through the vehicle's
hub's desk API (docs/design.md, "The secretary's desk"): she logs in, opens the stop, welcomes the booked
patients and registers walk-ins, sends the next patient to the doctor and closes the stop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import date
from typing import Any

import aiohttp

from runtime.errors import StationError
from sim.seed import PATIENTS

REASONS = ("fièvre depuis deux jours", "toux persistante", "renouvellement d'ordonnance", "douleur au genou",
           "tension à contrôler")
POLL_S = 0.1  # real seconds between two looks at the desk while a call is answered
ANSWER_S = 30.0  # real seconds the cabin has to answer a call


class DeskRefused(StationError):
    """The desk refused what the simulated secretary asked, or the cabin refused her call."""


class SimSecretary:
    """Plays the secretary at `hub_url` (the vehicle's hub, its origin as her browser's) with her login."""

    def __init__(self, hub_url: str, username: str, password: str, rng: random.Random,
                 narrate: Callable[[str], None] = lambda line: None) -> None:
        self._url = hub_url
        self._login = {"username": username, "password": password}
        self._rng = rng
        self._narrate = narrate
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Log in at the desk."""
        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"Origin": self._url},
                                               cookie_jar=aiohttp.CookieJar(unsafe=True))
            await self._post("/api/login", self._login)

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._http is not None, "start() the secretary first"
        async with self._http.post(self._url + path, json=body or {}) as response:
            answer: dict[str, Any] = await response.json()
        if response.status >= 300:
            raise DeskRefused(f"the desk refused {path}: {answer.get('message')} ({answer.get('error')})")
        return answer

    async def day(self) -> dict[str, Any]:
        """The stop's day as the desk shows it."""
        assert self._http is not None, "start() the secretary first"
        async with self._http.get(self._url + "/api/desk/day") as response:
            answer: dict[str, Any] = await response.json()
        return dict(answer["day"])

    async def open_stop(self, open_: bool = True) -> None:
        """Open today's stop (or close it: the full cleaning is then due in the vehicle)."""
        day = await self._post("/api/desk/stop", {"open": open_})
        stop = day["day"]["stop"] or {}
        self._narrate(f"secretary: the stop at {stop.get('place')} is {'open' if open_ else 'closed'}")

    async def welcome(self, code: str, birth_date: date) -> int:
        """A booked patient arrives: identity checked against the booking; their ticket number."""
        reason = self._rng.choice(REASONS)
        made = await self._post("/api/desk/welcome", {"code": code, "birth_date": birth_date.isoformat(),
                                                      "reason": reason})
        ticket = int(made["visit"]["ticket"])
        self._narrate(f"secretary: booked patient welcomed, ticket {ticket} ({reason})")
        return ticket

    async def walk_in(self) -> int:
        """A patient without a booking is registered on the spot; their ticket number."""
        name, birth, sex = self._rng.choice(PATIENTS)
        reason = self._rng.choice(REASONS)
        made = await self._post("/api/desk/walk-in", {
            "patient_name": name, "birth_date": birth.isoformat(), "sex": sex, "regular_doctor": False,
            "reason": reason})
        ticket = int(made["visit"]["ticket"])
        self._narrate(f"secretary: walk-in registered, ticket {ticket} ({reason})")
        return ticket

    async def call_next(self) -> int:
        """Send the first waiting patient to the doctor, once the cabin took them in; their ticket."""
        called = (await self._post("/api/desk/next"))["visit"]
        try:
            async with asyncio.timeout(ANSWER_S):
                answer = await self._answer_to(str(called["id"]))
        except TimeoutError:
            raise DeskRefused(f"the cabin did not answer the call of ticket {called['ticket']} in {ANSWER_S:.0f} s: "
                              "is the station connected to the vehicle's hub?") from None
        if not answer.get("accepted"):
            raise DeskRefused(f"the cabin refused ticket {called['ticket']}: {answer.get('message')}")
        self._narrate(f"secretary: ticket {called['ticket']} called to the doctor")
        return int(called["ticket"])

    async def _answer_to(self, visit: str) -> dict[str, Any]:
        while True:
            answer = (await self.day()).get("answer")
            if answer is not None and answer.get("visit") == visit:
                return dict(answer)
            await asyncio.sleep(POLL_S)
