"""The station on board a mobile unit: the secretary's calls, the stop's opening, the waiting-room display.

The hub relays the secretary's desk over the station's one connection (docs/design.md, "On board"):
a `call` checks the patient in (`PatientDesk.admit_called`) and is answered with a `call_answer`;
a `stop` opens the cabin or closes the stop, which calls for the full cleaning; a `queue` is drawn
on the touchscreen by ticket numbers only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from protocol.hub import CallAnswer, CallPatient, QueueBoard, StopState
from protocol.states import CabinState
from session.core import CabinCore, CabinRefusal

if TYPE_CHECKING:
    from session.on_board import StopGate
    from session.patient_desk import PatientDesk
    from station.hub_client import OnBoard as OnBoardMessage
    from station.kiosk import KioskServer

log = logging.getLogger(__name__)


class OnBoard:
    """Carries out what the secretary's desk sends the vehicle's station."""

    def __init__(self, cabin: CabinCore, patient: PatientDesk, gate: StopGate, kiosk: KioskServer) -> None:
        self._cabin = cabin
        self._patient = patient
        self._gate = gate
        self._kiosk = kiosk

    async def handle(self, message: OnBoardMessage) -> CallAnswer | None:
        """Act on one message from the hub; a call gets its answer, to send back."""
        if isinstance(message, CallPatient):
            return await self._call(message)
        if isinstance(message, StopState):
            await self._stop(message)
        elif isinstance(message, QueueBoard):
            self._kiosk.show_board({"called": message.called, "waiting": list(message.waiting)})
        return None

    async def _call(self, call: CallPatient) -> CallAnswer:
        try:
            await self._patient.admit_called(call.code, call.visit)
        except CabinRefusal as exc:
            log.info("the call for visit %s is refused: %s", call.visit, exc.code)
            return CallAnswer(visit=call.visit, accepted=False, code=exc.code, message=str(exc)[:500])
        return CallAnswer(visit=call.visit, accepted=True)

    async def _stop(self, stop: StopState) -> None:
        cabin, gate = self._cabin, self._gate

        async def step() -> None:
            # The mark before the stop's state: a write failing in between leaves the stop open, so that the
            # hub's next word closes it again, never a closed stop without its cleaning due. A stop left open
            # on an earlier day has ended too: its full cleaning is due before another stop opens.
            today = cabin.clock.now().astimezone(cabin.clock.zone).date()
            if gate.opened and (not stop.open or gate.opened_before(today)):
                await cabin.close_stop()
            await gate.set(stop.open, stop.place, cabin.clock.now())
            if stop.open and cabin.state is CabinState.CLOSED:
                await cabin.fire("open", reason="stop_opened")

        await cabin.act(step)
