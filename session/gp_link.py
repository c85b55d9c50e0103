"""The GP's side of the cabin: control channels in, waiting-room notices and readings out.

Each attached channel (a WebRTC data channel through the hub, or an in-process pair for
the simulator) gets a reader task for its messages and a writer task that drains a
bounded queue, so a slow GP never blocks the cabin and messages keep their order.
"""

from __future__ import annotations

import asyncio
import logging

from config.errors import StationError
from session.cabin import Cabin
from session.channel import ChannelClosed, MessageChannel
from session.control import ControlError, End, Join, Prescribe, Reprint, RequestMeasurement, encode, parse_control
from session.core import CabinEvent, CabinRefusal
from session.states import CabinState

log = logging.getLogger(__name__)

OUTBOX_SIZE = 1024


class _Peer:
    """One attached GP channel with its outbox and tasks."""

    def __init__(self, channel: MessageChannel) -> None:
        self.channel = channel
        self.outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
        self.session: str | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def post(self, message: str) -> None:
        if self.outbox.full():
            self.outbox.get_nowait()  # drop the oldest: a stale reading is worth less than a new one
            log.warning("GP outbox full, dropped the oldest message")
        self.outbox.put_nowait(message)


class GpLink:
    """Routes GP control messages to the cabin and cabin events to the right GP."""

    def __init__(self, cabin: Cabin) -> None:
        self._cabin = cabin
        self._peers: list[_Peer] = []
        self._unsubscribe: object = None

    async def start(self) -> None:
        """Listen to the cabin's events."""
        self._unsubscribe = self._cabin.subscribe(self._on_event)

    async def stop(self) -> None:
        """Close every channel and stop its tasks; idempotent."""
        if callable(self._unsubscribe):
            self._unsubscribe()
            self._unsubscribe = None
        peers, self._peers = self._peers, []
        tasks = [t for p in peers for t in p.tasks]
        for peer in peers:
            peer.channel.close()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def attach(self, channel: MessageChannel) -> None:
        """A GP connected: serve its channel until it closes."""
        peer = _Peer(channel)
        loop = asyncio.get_running_loop()
        peer.tasks = [loop.create_task(self._read(peer)), loop.create_task(self._write(peer))]
        self._peers.append(peer)
        c = self._cabin.consultation
        if c is not None and self._cabin.state is CabinState.WAITING_FOR_DOCTOR:
            peer.post(self._waiting(c.session))

    def _waiting(self, session: str) -> str:
        c = self._cabin.consultation
        since = c.waiting_since.isoformat() if c and c.waiting_since else None
        return encode("waiting", session=session, site=self._cabin.config.place().name, since=since)

    async def _write(self, peer: _Peer) -> None:
        try:
            while True:
                await peer.channel.send(await peer.outbox.get())
        except ChannelClosed:
            return

    async def _read(self, peer: _Peer) -> None:
        try:
            while True:
                text = await peer.channel.recv()
                await self._handle(peer, text)
        except ChannelClosed:
            log.info("a GP channel closed")
        if peer in self._peers:
            self._peers.remove(peer)
        peer.tasks[1].cancel()
        if peer.session is not None:
            try:
                await self._cabin.gp_lost(peer.session)
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

    async def _dispatch(self, peer: _Peer, message: object) -> str:
        cabin = self._cabin
        if isinstance(message, Join):
            await cabin.gp_join(message.session, message.gp)
            peer.session = message.session
            return encode("joined", session=message.session)
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
        assert isinstance(message, End)
        await cabin.gp_end(session)
        return encode("ack", ref="end")

    def _on_event(self, event: CabinEvent) -> None:
        if event.kind == "state" and event.data.get("state") == CabinState.WAITING_FOR_DOCTOR.value:
            if event.data.get("source") == CabinState.ELIGIBILITY.value:
                for peer in self._peers:
                    peer.post(self._waiting(event.session))
            return
        targets = [p for p in self._peers if p.session == event.session and event.session]
        for peer in targets:
            if event.kind == "reading":
                peer.post(encode("reading", session=event.session, measurement=event.data))
            elif event.kind == "print":
                peer.post(encode("print_status", session=event.session, **event.data))
            elif event.kind == "notice" and event.data.get("event") == "consultation_ended":
                peer.post(encode("ended", session=event.session, state=event.data.get("state")))
                peer.session = None
            elif event.kind == "state":
                peer.post(encode("state", session=event.session, state=event.data.get("state")))
