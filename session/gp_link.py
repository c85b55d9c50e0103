"""The GP's side of the cabin: control channels in; waiting-room notices, readings and images out.

Each attached GP has a `control` channel (a WebRTC data channel of the instruments leg, or an
in-process pair for the simulator) and, on the instruments leg, a send-only `vitals` channel.
Readings, otoscope guidance and snapshots go on `vitals` when there is one, everything else on
`control`. Each channel has a writer task draining a bounded queue, so a slow GP never blocks
the cabin and messages keep their order; a reader task serves control messages.

Station to GP, every message `{"v": 1, "type": ...}`:
- vitals: `reading` {session, measurement: Reading.to_json() (with freshness_s), stale_after_s},
  `guidance` {session, advice, focus, brightness}, `snapshot` {session, id, index, count,
  mime: "image/jpeg", data: base64, at most SNAPSHOT_PART characters per part};
- control: `waiting` {session, site, since}, `joined` {session, patient: {name, age, birth_year,
  sex when known}}, `ack` {ref, ...}, `error` {code, message}, `state` {session, state},
  `print_status` {session, job, number, printed, bytes, error, warning}, `ended` {session, state}.
The patient's name goes only over these peer-to-peer channels, never through the hub.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

from devices.instrument import DeviceUnavailable
from protocol.control import (
    AnyControl,
    ControlError,
    End,
    Join,
    OtoscopeSwitch,
    Prescribe,
    Reprint,
    RequestMeasurement,
    Snapshot,
    parse_control,
)
from protocol.hub import GpIdentity
from protocol.states import CabinState
from protocol.versioned import encode
from runtime.errors import StationError
from session.cabin import Cabin
from session.channel import ChannelClosed, MessageChannel
from session.core import CabinEvent, CabinRefusal
from session.eligibility import age_on

log = logging.getLogger(__name__)

OUTBOX_SIZE = 1024
SNAPSHOT_PART = 32 * 1024  # base64 characters per snapshot part: well under any data channel's limit
GUIDANCE_INTERVAL_S = 0.25  # how often the otoscope's figures are looked at (it updates them 5 times a second)

SessionListener = Callable[[str | None], None]


class VitalsSink(Protocol):
    """A send-only channel for readings, guidance and snapshots (the `vitals` data channel)."""

    async def send(self, message: str) -> None:
        """Send one message; ChannelClosed if the channel is closed."""

    def close(self) -> None:
        """Close the channel."""


class OtoscopeFigures(Protocol):
    """Focus and brightness of the latest otoscope frame."""

    @property
    def focus(self) -> float:
        """Variance of the Laplacian: higher is sharper."""

    @property
    def brightness(self) -> float:
        """Mean grey level, 0-255."""


@runtime_checkable
class OtoscopeControl(Protocol):
    """What the GP may do with the cabin's otoscope (drivers/otoscope.py's Otoscope)."""

    @property
    def device_id(self) -> str:
        """The instrument's configured id."""

    @property
    def capturing(self) -> bool:
        """True while the camera is on."""

    async def capture_on(self) -> None:
        """Switch the camera on."""

    async def capture_off(self) -> None:
        """Switch the camera off."""

    async def snapshot(self, quality: int = 95) -> bytes:
        """A full-resolution JPEG."""

    def metrics(self) -> OtoscopeFigures | None:
        """The latest figures, None when there are none worth showing."""

    def guidance(self) -> str | None:
        """The advice for the patient now, or None."""


class _Peer:
    """One attached GP with its channels, outboxes and tasks."""

    def __init__(self, channel: MessageChannel, vitals: VitalsSink | None, on_session: SessionListener | None) -> None:
        self.channel = channel
        self.vitals = vitals
        self.on_session = on_session
        self.outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.vitals_outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.session: str | None = None
        self.identity: GpIdentity | None = None  # vouched for by the hub
        self.tasks: list[asyncio.Task[None]] = []

    def post(self, message: str) -> None:
        """Queue a control message."""
        _put(self.outbox, message)

    def post_vitals(self, message: str) -> None:
        """Queue a reading, guidance or snapshot part: on vitals when there is one, else on control."""
        _put(self.vitals_outbox if self.vitals is not None else self.outbox, message)

    def set_session(self, session: str | None) -> None:
        """Note the consultation this GP is in and tell the media leg (it shows the otoscope only then)."""
        self.session = session
        if self.on_session is not None:
            try:
                self.on_session(session)
            except Exception:
                log.exception("the GP's session listener failed")


def _put(queue: asyncio.Queue[str], message: str) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: a stale reading is worth less than a new one
        log.warning("GP outbox full, dropped the oldest message")
    queue.put_nowait(message)


class GpLink:
    """Routes GP control messages to the cabin and cabin events to the right GP."""

    def __init__(self, cabin: Cabin) -> None:
        self._cabin = cabin
        self._peers: list[_Peer] = []
        self._unsubscribe: Callable[[], object] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen to the cabin's events and follow the otoscope's guidance; idempotent."""
        if self._unsubscribe is not None:
            return
        self._unsubscribe = self._cabin.subscribe(self._on_event)
        self._spawn(self._follow_guidance(), "gp-guidance")

    async def stop(self) -> None:
        """Close every channel and stop every task; idempotent and bounded."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        peers, self._peers = self._peers, []
        tasks = [t for p in peers for t in p.tasks] + list(self._tasks)
        for peer in peers:
            peer.channel.close()
            if peer.vitals is not None:
                peer.vitals.close()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def attach(self, channel: MessageChannel, vitals: VitalsSink | None = None,
               on_session: SessionListener | None = None, identity: GpIdentity | None = None) -> None:
        """A GP connected: serve its control channel (and vitals, if any) until control closes.

        `on_session` hears the session this GP joins, and None when it ends or the GP goes.
        `identity` is who the hub authenticated at the other end, when a hub did: the GP's
        joins then take it (the prescriber of every prescription), not what the console says.
        """
        peer = _Peer(channel, vitals, on_session)
        peer.identity = identity
        loop = asyncio.get_running_loop()
        peer.tasks = [loop.create_task(self._read(peer)), loop.create_task(_write(channel, peer.outbox))]
        if vitals is not None:
            peer.tasks.append(loop.create_task(_write(vitals, peer.vitals_outbox)))
        self._peers.append(peer)
        c = self._cabin.consultation
        if c is not None and self._cabin.state is CabinState.WAITING_FOR_DOCTOR:
            peer.post(self._waiting(c.session))

    def _waiting(self, session: str) -> str:
        c = self._cabin.consultation
        since = c.waiting_since.isoformat() if c and c.waiting_since else None
        return encode("waiting", session=session, site=self._cabin.config.place().name, since=since)

    async def _read(self, peer: _Peer) -> None:
        try:
            while True:
                text = await peer.channel.recv()
                await self._handle(peer, text)
        except ChannelClosed:
            log.info("a GP channel closed")
        if peer in self._peers:
            self._peers.remove(peer)
        for task in peer.tasks[1:]:
            task.cancel()
        if peer.vitals is not None:
            peer.vitals.close()
        session = peer.session
        peer.set_session(None)
        if session is not None:
            try:
                await self._cabin.gp_lost(session)
            except CabinRefusal as exc:
                log.warning("GP link lost while the cabin could not note it: %s", exc)

    async def _handle(self, peer: _Peer, text: str) -> None:
        try:
            message = parse_control(text)
            reply = await self._dispatch(peer, message)
        except ControlError as exc:
            log.warning("invalid control message: %s", exc)
            peer.post(encode("error", code="invalid_message", message=str(exc)))
            return
        except StationError as exc:
            code = exc.code if isinstance(exc, CabinRefusal) else "refused"
            peer.post(encode("error", code=code, message=str(exc)))
            return
        peer.post(reply)

    async def _dispatch(self, peer: _Peer, message: AnyControl) -> str:
        cabin = self._cabin
        if isinstance(message, Join):
            gp = message.gp
            if peer.identity is not None:
                if gp.rpps != peer.identity.rpps:
                    log.warning("a console logged in as RPPS %s joined as RPPS %s: refused",
                                peer.identity.rpps, gp.rpps)
                    raise CabinRefusal("wrong_identity", "this console is not logged in as that GP")
                gp = peer.identity
            await cabin.gp_join(message.session, gp)
            peer.set_session(message.session)
            return encode("joined", session=message.session, patient=self._patient(message.session))
        session = peer.session
        if session is None:
            raise CabinRefusal("not_joined", "join a consultation first")
        if isinstance(message, RequestMeasurement):
            device = await cabin.gp_request(session, message.kind)
            return encode("ack", ref="request_measurement", kind=message.kind, device=device)
        if isinstance(message, Prescribe):
            number = await cabin.gp_prescribe(session, message)
            return encode("ack", ref="prescribe", number=number)
        if isinstance(message, Reprint):
            await cabin.gp_reprint(session, message.job)
            return encode("ack", ref="reprint", job=message.job)
        if isinstance(message, OtoscopeSwitch | Snapshot):
            return await self._otoscope_action(peer, session, message)
        assert isinstance(message, End)
        await cabin.gp_end(session)
        return encode("ack", ref="end")

    def _patient(self, session: str) -> dict[str, object]:
        """Who the GP greets and prescribes for; only ever sent on the peer-to-peer control channel."""
        c = self._cabin.consultation
        appointment = c.appointment if c is not None and c.session == session else None
        if appointment is None:
            return {}
        birth = appointment.birth_date
        patient: dict[str, object] = {
            "name": appointment.patient_name, "age": age_on(birth, self._cabin.clock.now().date()),
            "birth_year": birth.year,
        }
        if appointment.sex:
            patient["sex"] = appointment.sex
        return patient

    async def _otoscope_action(self, peer: _Peer, session: str, message: OtoscopeSwitch | Snapshot) -> str:
        otoscope = self._otoscope_for(session)
        try:
            if isinstance(message, OtoscopeSwitch):
                await (otoscope.capture_on() if message.on else otoscope.capture_off())
                return encode("ack", ref="otoscope", on=message.on, device=otoscope.device_id)
            jpeg = await otoscope.snapshot()
        except DeviceUnavailable as exc:
            raise CabinRefusal("instrument_unavailable", f"otoscope: {exc}", kind="otoscope") from exc
        ident = secrets.token_hex(8)
        data = base64.b64encode(jpeg).decode("ascii")
        parts = [data[i : i + SNAPSHOT_PART] for i in range(0, len(data), SNAPSHOT_PART)]
        for index, part in enumerate(parts):
            peer.post_vitals(encode("snapshot", session=session, id=ident, index=index, count=len(parts),
                                    mime="image/jpeg", data=part))
        return encode("ack", ref="snapshot", id=ident, count=len(parts), bytes=len(jpeg))

    def _otoscope_for(self, session: str) -> OtoscopeControl:
        """The cabin's otoscope, if the GP may use it now; CabinRefusal saying why not."""
        cabin = self._cabin
        c = cabin.consultation
        if c is None or c.session != session:
            raise CabinRefusal("unknown_session", "this consultation is not in progress at this cabin")
        if cabin.state is not CabinState.IN_CONSULTATION:
            raise CabinRefusal("wrong_state", f"not possible now: the cabin is {cabin.state.value}",
                               state=cabin.state.value)
        otoscope = self._otoscope()
        if otoscope is None:
            raise CabinRefusal("instrument_unavailable", "this cabin has no otoscope", kind="otoscope")
        return otoscope

    def _otoscope(self) -> OtoscopeControl | None:
        for instrument in self._cabin.devices.instruments:
            if instrument.config.kind == "otoscope" and isinstance(instrument, OtoscopeControl):
                return instrument
        return None

    async def _follow_guidance(self) -> None:
        """Pass the otoscope's advice and figures to the GP of the consultation while it is on."""
        last: OtoscopeFigures | None = None
        while True:
            await asyncio.sleep(GUIDANCE_INTERVAL_S)
            otoscope, c = self._otoscope(), self._cabin.consultation
            if otoscope is None or c is None or not otoscope.capturing:
                continue
            metrics, advice = otoscope.metrics(), otoscope.guidance()
            if metrics is None or advice is None or metrics is last:
                continue
            last = metrics
            text = encode("guidance", session=c.session, advice=advice, focus=round(metrics.focus, 1),
                          brightness=round(metrics.brightness, 1))
            for peer in self._peers:
                if peer.session == c.session:
                    peer.post_vitals(text)

    def _on_event(self, event: CabinEvent) -> None:
        if event.kind == "state" and event.data.get("state") == CabinState.WAITING_FOR_DOCTOR.value:
            if event.data.get("source") == CabinState.ELIGIBILITY.value:
                for peer in self._peers:
                    peer.post(self._waiting(event.session))
            return
        ended = event.kind == "notice" and event.data.get("event") == "consultation_ended"
        if ended:
            self._spawn(self._rest_otoscope(), "otoscope-off")
        targets = [p for p in self._peers if p.session == event.session and event.session]
        for peer in targets:
            if event.kind == "reading":
                stale_after = event.data.get("freshness_s")
                peer.post_vitals(encode("reading", session=event.session, measurement=event.data,
                                        stale_after_s=stale_after))
            elif event.kind == "print":
                peer.post(encode("print_status", session=event.session, **event.data))
            elif ended:
                peer.post(encode("ended", session=event.session, state=event.data.get("state")))
                peer.set_session(None)
            elif event.kind == "state":
                peer.post(encode("state", session=event.session, state=event.data.get("state")))

    async def _rest_otoscope(self) -> None:
        """The consultation is over: the camera goes off (nothing of one patient reaches the next)."""
        otoscope = self._otoscope()
        if otoscope is not None and otoscope.capturing:
            await otoscope.capture_off()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("GP link task %s failed", task.get_name(), exc_info=task.exception())


async def _write(channel: MessageChannel | VitalsSink, outbox: asyncio.Queue[str]) -> None:
    try:
        while True:
            await channel.send(await outbox.get())
    except ChannelClosed:
        return
