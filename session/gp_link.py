"""The GP's side of the cabin: control channels in; waiting-room notices, readings and images out.

Each attached GP has a `control` channel (a WebRTC data channel of the instruments leg, or an
in-process pair for the simulator) and, on the instruments leg, a send-only `vitals` channel.
Readings, the waveform, camera guidance and snapshots go on `vitals` when there is one,
everything else on `control`. Each channel has a writer task draining a bounded queue, so a
slow GP never blocks the cabin and messages keep their order; a reader task serves control
messages. Final readings come from the cabin's events; the waveform (60 samples a second)
comes straight from the device manager, for the consultation the cabin says it belongs to.

Station to GP, every message `{"v": 1, "type": ...}`:
- vitals: `reading` {session, measurement: Reading.to_json() (with freshness_s), stale_after_s},
  `guidance` {session, advice, focus, brightness}, `snapshot` {session, id, index, count,
  mime: "image/jpeg", data: base64, at most SNAPSHOT_PART characters per part};
- control: `waiting` {session, site, since}, `joined` {session, patient: {name, age, birth_year,
  sex when known}}, `ack` {ref, ...} (a prescription's: {ref, id, number}), `error` {code, message,
  details such as the `number` of the prescription already sent}, `state` {session, state},
  `print_status` {session, job, number, printed, bytes, error, warning}, `ended` {session, state}.
The stethoscope's messages are `session/auscultation.py`'s (acks {ref: "stethoscope", on, device},
{ref: "auscultate", point}). The patient's name goes only over these peer-to-peer channels, never through the hub.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable
from typing import Protocol

from devices.camera import ExaminationCamera, FrameMetrics, Guidance
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Pleth, Reading
from devices.subscription import Subscription
from protocol.control import (
    AnyControl,
    Auscultate,
    ControlError,
    End,
    Join,
    OtoscopeSwitch,
    Prescribe,
    Reprint,
    RequestMeasurement,
    Snapshot,
    StethoscopeSwitch,
    parse_control,
)
from protocol.eligibility import age_on
from protocol.hub import GpIdentity
from protocol.states import CabinState
from protocol.versioned import encode
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.auscultation import Auscultation
from session.channel import ChannelClosed, MessageChannel
from session.core import CabinCore, CabinRefusal
from session.events import CabinEvent, ConsultationEnded, PrintReported, ReadingTaken, StateChanged
from session.gp_desk import GpDesk

log = logging.getLogger(__name__)

OUTBOX_SIZE = 1024
SNAPSHOT_PART = 32 * 1024  # base64 characters per snapshot part: well under any data channel's limit

SessionListener = Callable[[str | None], None]


class VitalsSink(Protocol):
    """A send-only channel for readings, guidance and snapshots (the `vitals` data channel)."""

    async def send(self, message: str) -> None:
        """Send one message; ChannelClosed if the channel is closed."""

    def close(self) -> None:
        """Close the channel."""


class _Peer:
    """One attached GP with its channels and outboxes."""

    def __init__(self, channel: MessageChannel, vitals: VitalsSink | None, on_session: SessionListener | None,
                 identity: GpIdentity | None) -> None:
        self.channel = channel
        self.vitals = vitals
        self.on_session = on_session
        self.identity = identity  # vouched for by the hub, when a hub is in between
        self.outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.vitals_outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.session: str | None = None
        self.writers: list[asyncio.Task[None]] = []

    def post(self, message: str) -> None:
        """Queue a control message."""
        _put(self.outbox, message)

    def post_vitals(self, message: str) -> None:
        """Queue a reading, guidance or snapshot part: on vitals when there is one, else on control."""
        _put(self.vitals_outbox if self.vitals is not None else self.outbox, message)

    def set_session(self, session: str | None) -> None:
        """Note the consultation this GP is in and tell the media leg (it shows the camera only then)."""
        self.session = session
        if self.on_session is not None:
            try:
                self.on_session(session)
            except Exception:
                log.exception("the GP's session listener failed")

    def close(self) -> None:
        """Close both channels and stop the writers."""
        self.channel.close()
        if self.vitals is not None:
            self.vitals.close()
        for writer in self.writers:
            writer.cancel()


def _put(queue: asyncio.Queue[str], message: str) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: a stale reading is worth less than a new one
        log.warning("GP outbox full, dropped the oldest message")
    queue.put_nowait(message)


class GpLink:
    """Routes GP control messages to the GP desk and the cabin's news to the right GP."""

    def __init__(self, cabin: CabinCore, desk: GpDesk, *, devices: DeviceManager, site_name: str,
                 camera: ExaminationCamera | None = None, auscultation: Auscultation | None = None) -> None:
        """`auscultation` serves the stethoscope's messages (none: the cabin has no stethoscope)."""
        self._cabin = cabin
        self._auscultation = auscultation
        self._desk = desk
        self._devices = devices
        self._site_name = site_name
        self._camera = camera
        self._peers: list[_Peer] = []
        self._unsubscribe: list[Callable[[], object]] = []
        self._tasks = TaskSet("gp-link", log)
        self._waveform: Subscription | None = None

    async def start(self) -> None:
        """Follow the cabin, the camera's guidance and the waveform; idempotent."""
        if self._unsubscribe:
            return
        self._unsubscribe.append(self._cabin.subscribe(self._on_event))
        if self._camera is not None:
            self._unsubscribe.append(self._camera.subscribe_guidance(self._on_guidance))
        self._waveform = self._devices.subscribe()
        self._tasks.spawn(self._forward_waveform(self._waveform), "waveform")

    async def stop(self) -> None:
        """Close every channel and stop every task; idempotent and bounded."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self._waveform is not None:
            self._devices.unsubscribe(self._waveform)
            self._waveform = None
        peers, self._peers = self._peers, []
        for peer in peers:
            peer.close()
        await self._tasks.cancel_all()

    def attach(self, channel: MessageChannel, vitals: VitalsSink | None = None,
               on_session: SessionListener | None = None, identity: GpIdentity | None = None) -> None:
        """A GP connected: serve its control channel (and vitals, if any) until control closes.

        `on_session` hears the session this GP joins, and None when it ends or the GP goes.
        `identity` is who the hub authenticated at the other end, when a hub did: the GP's
        joins then take it (the prescriber of every prescription), not what the console says.
        """
        peer = _Peer(channel, vitals, on_session, identity)
        peer.writers.append(self._tasks.spawn(_write(channel, peer.outbox), "control-writer"))
        if vitals is not None:
            peer.writers.append(self._tasks.spawn(_write(vitals, peer.vitals_outbox), "vitals-writer"))
        self._tasks.spawn(self._read(peer), "control-reader")
        self._peers.append(peer)
        snapshot = self._cabin.snapshot()
        if snapshot.consultation is not None and snapshot.state is CabinState.WAITING_FOR_DOCTOR:
            peer.post(self._waiting(snapshot.consultation.session))

    def _waiting(self, session: str) -> str:
        c = self._cabin.snapshot().consultation
        since = c.waiting_since.isoformat() if c is not None and c.waiting_since else None
        return encode("waiting", session=session, site=self._site_name, since=since)

    async def _read(self, peer: _Peer) -> None:
        try:
            while True:
                text = await peer.channel.recv()
                await self._handle(peer, text)
        except ChannelClosed:
            log.info("a GP channel closed")
        finally:
            if peer in self._peers:
                self._peers.remove(peer)
            peer.close()
        session = peer.session
        peer.set_session(None)
        if session is not None:
            try:
                await self._desk.lost(session)
            except CabinRefusal as exc:
                log.warning("GP link lost while the cabin could not note it: %s", exc)

    async def _handle(self, peer: _Peer, text: str) -> None:
        try:
            reply = await self._dispatch(peer, parse_control(text))
        except ControlError as exc:
            log.warning("invalid control message: %s", exc)
            peer.post(encode("error", code="invalid_message", message=str(exc)))
            return
        except CabinRefusal as exc:
            peer.post(encode("error", code=exc.code, message=str(exc), **exc.details))
            return
        except StationError as exc:
            peer.post(encode("error", code="refused", message=str(exc)))
            return
        peer.post(reply)

    async def _dispatch(self, peer: _Peer, message: AnyControl) -> str:
        if isinstance(message, Join):
            return await self._join(peer, message)
        session = peer.session
        if session is None:
            raise CabinRefusal("not_joined", "join a consultation first")
        match message:
            case RequestMeasurement(kind=kind):
                device = await self._desk.request(session, kind)
                return encode("ack", ref="request_measurement", kind=kind, device=device)
            case Prescribe():
                number = await self._desk.prescribe(session, message)
                return encode("ack", ref="prescribe", id=message.id, number=number)
            case Reprint(job=job):
                await self._desk.reprint(session, job)
                return encode("ack", ref="reprint", job=job)
            case OtoscopeSwitch() | Snapshot():
                return await self._camera_action(peer, session, message)
            case StethoscopeSwitch() | Auscultate():
                if self._auscultation is None:
                    raise CabinRefusal("instrument_unavailable", "this cabin has no stethoscope", kind="stethoscope")
                return await self._auscultation.handle(session, message)
            case End():
                await self._desk.end(session)
                return encode("ack", ref="end")
        raise ControlError(f"no handler for {type(message).__name__}")

    async def _join(self, peer: _Peer, message: Join) -> str:
        gp = message.gp
        if peer.identity is not None:
            if gp.rpps != peer.identity.rpps:
                log.warning("a console logged in as RPPS %s joined as RPPS %s: refused", peer.identity.rpps, gp.rpps)
                raise CabinRefusal("wrong_identity", "this console is not logged in as that GP")
            gp = peer.identity
        await self._desk.join(message.session, gp)
        peer.set_session(message.session)
        return encode("joined", session=message.session, patient=self._patient(message.session))

    def _patient(self, session: str) -> dict[str, object]:
        """Who the GP greets and prescribes for; only ever sent on the peer-to-peer control channel."""
        c = self._cabin.snapshot().consultation
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

    async def _camera_action(self, peer: _Peer, session: str, message: OtoscopeSwitch | Snapshot) -> str:
        camera = self._camera_for(session)
        try:
            if isinstance(message, OtoscopeSwitch):
                await (camera.capture_on() if message.on else camera.capture_off())
                return encode("ack", ref="otoscope", on=message.on, device=camera.device_id)
            jpeg = await camera.snapshot()
        except DeviceUnavailable as exc:
            raise CabinRefusal("instrument_unavailable", f"otoscope: {exc}", kind="otoscope") from exc
        ident = secrets.token_hex(8)
        data = base64.b64encode(jpeg).decode("ascii")
        parts = [data[i : i + SNAPSHOT_PART] for i in range(0, len(data), SNAPSHOT_PART)]
        for index, part in enumerate(parts):
            peer.post_vitals(encode("snapshot", session=session, id=ident, index=index, count=len(parts),
                                    mime="image/jpeg", data=part))
        return encode("ack", ref="snapshot", id=ident, count=len(parts), bytes=len(jpeg))

    def _camera_for(self, session: str) -> ExaminationCamera:
        """The cabin's camera, if the GP may use it now; CabinRefusal saying why not."""
        self._cabin.matching(session)
        self._cabin.require(CabinState.IN_CONSULTATION)
        if self._camera is None:
            raise CabinRefusal("instrument_unavailable", "this cabin has no otoscope", kind="otoscope")
        return self._camera

    def _on_guidance(self, advice: Guidance, metrics: FrameMetrics) -> None:
        """The camera analysed a frame: its advice and figures go to the GP of the consultation."""
        c = self._cabin.consultation
        if c is None:
            return
        text = encode("guidance", session=c.session, advice=advice, focus=round(metrics.focus, 1),
                      brightness=round(metrics.brightness, 1))
        for peer in self._peers_in(c.session):
            peer.post_vitals(text)

    async def _forward_waveform(self, subscription: Subscription) -> None:
        """The waveform, chunk by chunk, to the GP of the consultation it belongs to."""
        async for reading in subscription:
            if isinstance(reading, Pleth):
                session = self._cabin.session_of(reading)
                if session is not None:
                    self._send_reading(session, reading, self._devices.freshness_of(reading.device_id))

    def _send_reading(self, session: str, reading: Reading, fresh_for_s: float) -> None:
        text = encode("reading", session=session, measurement={**reading.to_json(), "freshness_s": fresh_for_s},
                      stale_after_s=fresh_for_s)
        for peer in self._peers_in(session):
            peer.post_vitals(text)

    def _peers_in(self, session: str) -> list[_Peer]:
        return [p for p in self._peers if p.session == session]

    def _on_event(self, event: CabinEvent) -> None:
        match event:
            # From eligibility in a cabin; straight from ready on board, where the secretary's call checks in.
            case StateChanged(state=CabinState.WAITING_FOR_DOCTOR, source=CabinState.ELIGIBILITY | CabinState.READY,
                              session=session):
                for peer in self._peers:
                    peer.post(self._waiting(session))
            case StateChanged(state=CabinState.WAITING_FOR_DOCTOR):
                pass
            case StateChanged(session=session, state=state) if session:
                for peer in self._peers_in(session):
                    peer.post(encode("state", session=session, state=state.value))
            case ReadingTaken(session=session, reading=reading, fresh_for_s=fresh_for_s):
                self._send_reading(session, reading, fresh_for_s)
            case PrintReported(session=session):
                for peer in self._peers_in(session):
                    peer.post(encode("print_status", session=session, **event.to_json()))
            case ConsultationEnded(session=session, state=state):
                self._tasks.spawn(self._rest_camera(), "camera-off")
                for peer in self._peers_in(session):
                    peer.post(encode("ended", session=session, state=state.value))
                    peer.set_session(None)

    async def _rest_camera(self) -> None:
        """The consultation is over: the camera goes off (nothing of one patient reaches the next)."""
        if self._camera is not None and self._camera.capturing:
            await self._camera.capture_off()


async def _write(channel: MessageChannel | VitalsSink, outbox: asyncio.Queue[str]) -> None:
    try:
        while True:
            await channel.send(await outbox.get())
    except ChannelClosed:
        return
