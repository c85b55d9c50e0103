"""A simulated patient and a simulated hygiene referent, acting through the kiosk API.

They use the same HTTP and WebSocket endpoints the touchscreen page uses, and read the
cabin only through the view that page renders.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from protocol.booking_code import display_code
from runtime.clock import Clock
from runtime.errors import StationError
from sim.badges import REFERENT_BADGE
from sim.serial_devices import SimRdm6300

# How long, in clock seconds, the referent waits for the screen to answer a badge.
BADGE_ANSWER_S = 30.0


class KioskError(StationError):
    """The kiosk answered with an error the simulated person did not expect."""


class KioskClient:
    """HTTP and WebSocket access to the kiosk API, with the latest view kept up to date.

    `entry_url` is the kiosk's `/enter?key=KEY`: the client gets the key's cookie there first,
    as the kiosk browser does.
    """

    def __init__(self, entry_url: str) -> None:
        entry = URL(entry_url)
        self.entry_url = entry_url
        self.base_url = str(entry.origin())
        self.key = entry.query.get("key", "")
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.view: dict[str, Any] = {}
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the session and the event stream."""
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: an IP address
        async with self._session.get(self.entry_url, allow_redirects=False) as resp:
            if resp.status != 303:
                raise KioskError(f"the kiosk refused its key ({resp.status})")
        self._ws = await self._session.ws_connect(f"{self.base_url}/api/events")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def stop(self) -> None:
        """Close everything; idempotent."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader], timeout=5)
            self._reader = None
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data.get("type") != "view":
                    continue  # the face-to-face call's messages are for the kiosk page
                async with self._changed:
                    self.view = data["view"]
                    self._changed.notify_all()

    async def post(self, path: str, body: dict[str, object] | None = None, ok: bool = True) -> dict[str, Any]:
        """POST to the API; with ok=True an error reply raises KioskError."""
        assert self._session is not None
        async with self._session.post(f"{self.base_url}{path}", json=body or {}) as resp:
            data: dict[str, Any] = await resp.json()
        if ok and resp.status != 200:
            raise KioskError(f"{path}: {data.get('message')} ({data.get('error')})")
        return data

    async def current(self) -> dict[str, Any]:
        """The view as the station has it now."""
        assert self._session is not None
        async with self._session.get(f"{self.base_url}/api/state") as resp:
            view: dict[str, Any] = await resp.json()
        return view

    async def wait_for(self, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait until the view satisfies `accept`."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self.view) and accept(self.view))
            return self.view

    async def wait_state(self, *states: str) -> dict[str, Any]:
        """Wait until the cabin is in one of `states`."""
        return await self.wait_for(lambda v: v.get("state") in states)


class SimPatient:
    """Checks in with a code, confirms, consents, and leaves with the prescription."""

    def __init__(self, kiosk: KioskClient, code: str, narrate: Callable[[str], None] = lambda line: None,
                 representative: str | None = None) -> None:
        self._kiosk = kiosk
        self._code = code
        self._narrate = narrate
        self._representative = representative

    async def check_in(self) -> None:
        """From the welcome screen to the doctor's waiting room."""
        await self._kiosk.wait_state("ready")
        # Typed as it was given to the patient: in groups, as the kiosk takes it too.
        who = await self._kiosk.post("/api/checkin", {"code": display_code(self._code)})
        self._narrate(f"patient: code accepted, the screen shows {who['name']} born {who['birth_year']}")
        await self._kiosk.post("/api/identity", {"confirm": True})
        view = await self._kiosk.wait_state("eligibility")
        if view["session"]["eligibility"]["verdict"] == "needs_representative":
            await self._kiosk.post("/api/representative", {"present": True, "name": self._representative or ""})
        await self._kiosk.post("/api/consent", {"accepted": True})
        await self._kiosk.wait_state("waiting_for_doctor")
        self._narrate("patient: consented, waiting for the doctor")

    async def leave_with_prescription(self) -> None:
        """Wait for the end of the consultation and for printing, then leave."""
        await self._kiosk.wait_for(
            lambda v: v.get("state") == "wrapping_up" and all(p.get("printed") or p.get("error")
                                                             for p in v["session"]["prints"])
        )
        self._narrate("patient: took the prescription and left")
        await self._kiosk.post("/api/leave")


# Whether a simulated patient hears a presentation: (ear, hz, dbfs; None for a silent one) -> heard.
Hears = Callable[[str, int, float | None], bool]


def hears_from(levels: dict[tuple[str, int], float]) -> Hears:
    """A listener who hears a tone at or above its threshold (dBFS, by ear and frequency), never silence."""
    return lambda ear, hz, dbfs: dbfs is not None and dbfs >= levels[(ear, hz)] - 1e-6


class SimScreenee:
    """A patient answering the hearing screening on the kiosk, as its page would post the answers."""

    def __init__(self, kiosk: KioskClient, hears: Hears) -> None:
        self._kiosk = kiosk
        self._hears = hears

    async def hearing(self) -> int:
        """Answer every presentation of the hearing screening under way (or about to start); how many."""
        view = await self._kiosk.wait_for(lambda v: _hearing_run(v) is not None)
        answered = 0
        while (run := _hearing_run(view)) is not None:
            step = run["step"]
            heard = self._hears(step["ear"], step["hz"], step["dbfs"])
            answer = {"heard": heard, "step": run["answered"]}
            await self._kiosk.post("/api/screening", {"run": run["run"], "answer": answer})
            answered += 1
            view = await self._kiosk.wait_for(_moved_on(run))
        return answered


def _hearing_run(view: dict[str, Any]) -> dict[str, Any] | None:
    run = (view.get("session") or {}).get("screening")
    return run if isinstance(run, dict) and run.get("kind") == "audiometer" else None


def _moved_on(run: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    def moved(view: dict[str, Any]) -> bool:
        now = _hearing_run(view)
        return now is None or now["run"] != run["run"] or now["answered"] != run["answered"]
    return moved


class SimReferent:
    """Cleans the cabin: badge, every step in order, the contact time, badge again."""

    def __init__(self, kiosk: KioskClient, reader: SimRdm6300, clock: Clock,
                 narrate: Callable[[str], None] = lambda line: None, badge: str = REFERENT_BADGE) -> None:
        self._kiosk = kiosk
        self._reader = reader
        self._clock = clock
        self._narrate = narrate
        self._badge = badge

    async def clean(self) -> None:
        """Run the whole protocol on a cabin awaiting cleaning."""
        await self._kiosk.wait_state("awaiting_cleaning")
        await self._reader.present(self._badge)
        view = await self._kiosk.wait_state("cleaning")
        self._narrate("referent: badge accepted, cleaning started")
        while view["cleaning"]["next_step"] is not None:
            step = view["cleaning"]["next_step"]
            await self._kiosk.post("/api/cleaning/step", {"step": step})
            view = await self._kiosk.wait_for(_step_done(step))
        wait = view["cleaning"]["contact_remaining_s"]
        self._narrate(f"referent: every step done, waiting {wait} s of contact time")
        while view["state"] == "cleaning":
            await self._clock.sleep(float(view["cleaning"]["contact_remaining_s"]) + 1)
            await self._reader.present(self._badge)
            try:
                async with asyncio.timeout(self._clock.real_seconds(BADGE_ANSWER_S) + 1.0):
                    view = await self._kiosk.wait_state("ready", "closed", "awaiting_cleaning", "maintenance")
            except TimeoutError:
                view = await self._kiosk.current()
        self._narrate("referent: cleaning confirmed by badge")


def _step_done(step: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: bool(view.get("cleaning", {}).get("next_step") != step)
