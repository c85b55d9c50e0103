"""The stethoscope in a consultation: the GP switches it on and off and shows the patient where to place it.

`Auscultation` owns what the GP's `stethoscope` and `auscultate` messages change: the
stethoscope's capture, and the point the kiosk shows (a torso, front or back, with the point
marked, and the step text). Both are for the consultation in progress only: the stethoscope stays
on through a reconnection (the GP finds it as she left it; the track sounds only to the GP in
consultation) and goes off, with the guidance, once the GP is done or the consultation ends; a new
measurement request takes the guidance away, since the patient now does something else
(docs/design.md, "The stethoscope"). Listeners (the kiosk) hear every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from devices.instrument import DeviceUnavailable
from devices.stethoscope import Stethoscope
from protocol.control import Auscultate, AuscultationPoint, StethoscopeSwitch
from protocol.states import CabinState
from protocol.versioned import encode
from runtime.listeners import Listeners
from runtime.tasks import TaskSet
from session.core import CabinCore, CabinRefusal
from session.events import CabinEvent, ConsultationEnded, MeasurementRequested, StateChanged

log = logging.getLogger(__name__)

Listener = Callable[[], None]


class Auscultation:
    """The stethoscope's switch and the point shown to the patient, for the consultation in progress."""

    def __init__(self, cabin: CabinCore, stethoscope: Stethoscope | None) -> None:
        self._cabin = cabin
        self.stethoscope = stethoscope
        self._point: AuscultationPoint | None = None
        self._listeners: Listeners[[]] = Listeners(log, "an auscultation listener")
        self._tasks = TaskSet("auscultation", log)
        self._unsubscribe: Callable[[], object] | None = None

    async def start(self) -> None:
        """Follow the cabin, to rest when the consultation is over; idempotent."""
        if self._unsubscribe is None:
            self._unsubscribe = self._cabin.subscribe(self._on_event)

    async def stop(self) -> None:
        """Stop following the cabin and rest; idempotent."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._tasks.cancel_all()
        await self.rest()

    @property
    def point(self) -> AuscultationPoint | None:
        """Where the patient is asked to place the chest piece now, if anywhere."""
        return self._point

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every change of the point; returns the unsubscriber."""
        return self._listeners.add(listener)

    async def handle(self, session: str, message: StethoscopeSwitch | Auscultate) -> str:
        """Act on the joined GP's message for `session`; the ack to send, or CabinRefusal saying why not."""
        stethoscope = self._usable(session)
        if isinstance(message, Auscultate):
            self._show(message.point)
            return encode("ack", ref="auscultate", point=message.point)
        if message.on:
            if not stethoscope.health().connected:
                raise CabinRefusal("instrument_unavailable", "the stethoscope is disconnected", kind="stethoscope")
            try:
                await stethoscope.listen_on()
            except DeviceUnavailable as exc:
                raise CabinRefusal("instrument_unavailable", f"stethoscope: {exc}", kind="stethoscope") from exc
        else:
            await self.rest()
        return encode("ack", ref="stethoscope", on=message.on, device=stethoscope.device_id)

    async def rest(self) -> None:
        """The stethoscope off (nothing it buffered is kept) and the patient's guidance away; idempotent."""
        if self.stethoscope is not None and self.stethoscope.listening:
            await self.stethoscope.listen_off()
        self._show(None)

    def _on_event(self, event: CabinEvent) -> None:
        match event:
            # On through a reconnection (the console finds it as it left it), off once the GP is done.
            case StateChanged(source=CabinState.IN_CONSULTATION, state=state) if state is not CabinState.RECONNECTING:
                self._tasks.spawn(self.rest(), "rest")
            case ConsultationEnded():
                self._tasks.spawn(self.rest(), "rest")
            case MeasurementRequested():  # the GP asks for something else: the screen shows that instead
                self._show(None)

    def _usable(self, session: str) -> Stethoscope:
        self._cabin.matching(session)
        self._cabin.require(CabinState.IN_CONSULTATION)
        if self.stethoscope is None:
            raise CabinRefusal("instrument_unavailable", "this cabin has no stethoscope", kind="stethoscope")
        return self.stethoscope

    def _show(self, point: AuscultationPoint | None) -> None:
        if point == self._point:
            return
        self._point = point
        self._listeners.tell()
