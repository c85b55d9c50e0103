"""The simulated people of a cabin: patients, a GP on duty and a hygiene referent.

They reach the station only through its public doors: the kiosk API, a GP control channel
handed to the station's GP link, and the badge reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from protocol.booking_code import normalise_code
from runtime.errors import StationError
from session.appointments import Appointment, AppointmentBook
from session.channel import MessageChannel, channel_pair
from sim.booker import HubBooker
from sim.gp import FINAL_KINDS, GpReport, SimGp
from sim.patient import KioskClient, SimPatient, SimReferent, SimScreenee, hears_from
from sim.rig import SimRig
from sim.seed import DEMO_GP, SIM_LISTENER, book_patient, sim_hearing

ARRIVAL_S = 10.0  # real seconds a booking made on the hub may take to reach the cabin


class SimCrew:
    """Runs simulated consultations and cleanings against one station."""

    def __init__(self, kiosk_entry_url: str, attach_gp: Callable[[MessageChannel], None], book: AppointmentBook,
                 site: str, rig: SimRig, narrate: Callable[[str], None] = lambda line: None,
                 gp_wait_s: float = 3600.0, booker: HubBooker | None = None) -> None:
        """With `booker`, patients book on the hub, and their codes reach the station as any booking does;
        without, they are written into the station's appointment book directly (the cabin's own tests)."""
        self.kiosk = KioskClient(kiosk_entry_url)
        self._attach_gp = attach_gp
        self._book = book
        self._booker = booker
        self._site = site
        self._rig = rig
        self._narrate = narrate
        self.referent = SimReferent(self.kiosk, rig.badge_reader, rig.clock, narrate)
        self._gp_channel: MessageChannel | None = None
        self._gp_wait_s = gp_wait_s  # clock seconds the GP waits for each answer

    async def start(self) -> None:
        """Open the kiosk connection and put a GP on duty."""
        await self.kiosk.start()
        gp_end, station_end = channel_pair()
        self._attach_gp(station_end)
        self._gp_channel = gp_end

    async def stop(self) -> None:
        """Take the GP off duty and close the kiosk connection."""
        if self._gp_channel is not None:
            self._gp_channel.close()
            self._gp_channel = None
        await self.kiosk.stop()

    async def book(self, minutes_ahead: float = 5.0) -> Appointment:
        """Book a fictional patient shortly from now (on the hub: its first free time)."""
        if self._booker is None:
            slot = self._rig.clock.now() + timedelta(minutes=minutes_ahead)
            return await book_patient(self._book, self._rig.rng, self._site, slot)
        booked = await self._booker.book()
        code = normalise_code(booked.code)
        assert code is not None, f"the hub gave a code the kiosk cannot take: {booked.code}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ARRIVAL_S
        while (appt := await self._book.find(code)) is None:
            if loop.time() > deadline:
                raise StationError(f"booking {booked.code} made on the hub has not reached the cabin in "
                                   f"{ARRIVAL_S:.0f} s: is the station connected to the hub?")
            await asyncio.sleep(0.05)
        return appt

    async def used(self, code: str) -> bool:
        """Whether a booked code has been used to check in."""
        appt = await self._book.find(code)
        return appt is not None and bool(appt.used_at)

    async def consultation(self, code: str) -> GpReport:
        """One patient from check-in to leaving with the prescription, seen by the GP on duty."""
        loop = asyncio.get_running_loop()
        gp = loop.create_task(self._gp(screening=self._rig.headphones).consult())
        listening: asyncio.Task[int] | None = None
        try:
            await SimPatient(self.kiosk, code, self._narrate).check_in()
            if self._rig.headphones:  # the GP asks for a hearing screening: the patient answers it
                listening = loop.create_task(SimScreenee(self.kiosk, hears_from(sim_hearing(SIM_LISTENER))).hearing())
            report = await gp
        finally:
            for task in (gp, listening):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        await SimPatient(self.kiosk, code, self._narrate).leave_with_prescription()
        return report

    def _gp(self, *, screening: bool = False) -> SimGp:
        """The GP on duty, for one consultation, on the crew's control channel; with `screening`, the GP
        also asks for a hearing screening, which the patient answers on the kiosk."""
        assert self._gp_channel is not None, "start() the crew first"
        kinds = (*FINAL_KINDS, "hearing") if screening else FINAL_KINDS
        return SimGp(self._gp_channel, self._rig.clock, DEMO_GP, self._narrate, kinds=kinds, wait_s=self._gp_wait_s)

    async def seen_on_board(self) -> GpReport:
        """On board: the GP in the vehicle sees the patient the secretary called; once the prescription has
        printed, the patient leaves (docs/design.md, "On board")."""
        report = await self._gp().consult()
        await self.kiosk.wait_state("awaiting_cleaning")
        return report

    async def clean(self) -> None:
        """The referent cleans the cabin once it awaits cleaning."""
        await self.referent.clean()

    async def gp_on_duty(self) -> None:
        """The GP sees every patient who comes to wait, one after another."""
        while True:
            await self._gp().consult()

    async def referent_on_duty(self) -> None:
        """The referent cleans after every patient."""
        while True:
            await self.referent.clean()
            await self.kiosk.wait_state("ready", "closed", "maintenance", "out_of_service")
