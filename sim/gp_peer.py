"""A simulated GP's browser on the instruments leg: a real aiortc peer answering the station's offers.

It does what the GP console does on that leg: on every instruments offer it replaces its peer
connection and answers; it watches the otoscope video, listens to the stethoscope (keeping the
last minute of decoded sound), reads the `vitals` channel, talks on the
`control` channel and, on a new control channel, joins its consultation again. Faults: it can
lose its network abruptly (its ICE transport stops: no DTLS close, no SCTP abort, nothing more
reaches the station) and ignore offers until the network comes back, or hang up cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from protocol.hub import GpIdentity
from protocol.versioned import encode
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.media import IceServerSpec, ice_configuration

log = logging.getLogger(__name__)

Message = dict[str, Any]
Accept = Callable[[Message], bool]
Reply = Callable[[dict[str, str]], Awaitable[None]]
VitalsListener = Callable[[float, Message], None]
AudioListener = Callable[[float, np.ndarray], None]  # arrival time.monotonic(), decoded mono samples at 48 kHz

MAILBOX_SIZE = 4096
_STOP_TIMEOUT_S = 5.0
AUDIO_KEPT_FRAMES = 3000  # 20 ms each: the last minute of sound


class GpPeerError(StationError):
    """The simulated GP did not get what it waited for."""


class Mailbox:
    """Messages as they arrive; `expect` takes the next one that matches, skipping the others."""

    def __init__(self) -> None:
        self._items: deque[Message] = deque(maxlen=MAILBOX_SIZE)
        self._arrived = asyncio.Event()
        self.counts: Counter[str] = Counter()

    def put(self, message: Message) -> None:
        """Add a message and wake a waiting `expect`."""
        self._items.append(message)
        self.counts[str(message.get("type"))] += 1
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    async def expect(self, accept: Accept, timeout_s: float = 10.0) -> Message:
        """The next message `accept` takes (earlier ones are dropped); GpPeerError on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    while self._items:
                        message = self._items.popleft()
                        if accept(message):
                            return message
                    await self._arrived.wait()
        except TimeoutError as exc:
            raise GpPeerError(f"no matching message within {timeout_s:g} s") from exc


def of_type(message_type: str, **fields: object) -> Accept:
    """A predicate: the message has this type and these field values."""
    return lambda m: m.get("type") == message_type and all(m.get(k) == v for k, v in fields.items())


class SimGpPeer:
    """The GP console's side of the instruments leg, for tests and the bench."""

    def __init__(self, identity: GpIdentity, reply: Reply, *, ice_servers: Sequence[IceServerSpec] = (),
                 rejoin: bool = True, on_vitals: VitalsListener | None = None,
                 on_audio: AudioListener | None = None) -> None:
        """`reply(answer)` carries the answer back to the station (the hub, or the director directly)."""
        self._identity = identity
        self._reply = reply
        self._ice_servers = list(ice_servers)
        self._rejoin = rejoin
        self._on_vitals = on_vitals
        self._on_audio = on_audio
        self._audio: deque[np.ndarray] = deque(maxlen=AUDIO_KEPT_FRAMES)
        self.audio_frames_received = 0
        self._offers: asyncio.Queue[Mapping[str, object]] = asyncio.Queue()
        self._pc: RTCPeerConnection | None = None
        self._control: RTCDataChannel | None = None
        self._control_open = asyncio.Event()
        self._tasks = TaskSet("sim-gp", log)
        self._answering = False
        self.control = Mailbox()
        self.vitals = Mailbox()
        self.session: str | None = None
        self.answering = True
        self.connections = 0
        self.offers = 0  # offers received: one more for each renegotiation
        self.frames_received = 0
        self.frame_size: tuple[int, int] | None = None
        self.frame_brightness: float | None = None  # mean luma of the latest frame, 0-255

    async def start(self) -> None:
        """Start answering offers; idempotent."""
        if not self._answering:
            self._answering = True
            self._tasks.spawn(self._answer_offers(), "offers")

    async def stop(self) -> None:
        """Hang up and stop every task; idempotent and bounded."""
        self._answering = False
        await self._tasks.cancel_all(_STOP_TIMEOUT_S)
        await self._close_pc()

    def offer(self, description: Mapping[str, object]) -> None:
        """An instruments offer from the station (what the hub would deliver)."""
        self.offers += 1
        self._offers.put_nowait(description)

    async def send(self, message_type: str, **fields: object) -> None:
        """Send a control message."""
        await self.send_raw(encode(message_type, **fields))

    async def send_raw(self, text: str | bytes) -> None:
        """Send anything at all on the control channel."""
        channel = self._control
        if channel is None or channel.readyState != "open":
            raise GpPeerError("the control channel is not open")
        channel.send(text)

    async def join(self, session: str) -> Message:
        """Join `session` and return the `joined` reply (GpPeerError on an `error` reply)."""
        self.session = session
        await self.send("join", session=session, gp=self._identity.model_dump())
        reply = await self.control.expect(lambda m: m.get("type") in ("joined", "error"))
        if reply["type"] == "error":
            raise GpPeerError(f"the station refused the join: {reply.get('message')}")
        return reply

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait until the control channel of the current connection is open."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._control_open.wait()
        except TimeoutError as exc:
            raise GpPeerError(f"no open control channel within {timeout_s:g} s") from exc

    def drop_network(self) -> None:
        """Lose the network abruptly: the ICE transport stops and offers go unanswered."""
        self.answering = False
        pc = self._pc
        if pc is not None and pc.sctp is not None:
            self._tasks.spawn(pc.sctp.transport.transport.stop(), "drop")

    def restore_network(self) -> None:
        """The network is back: the next offer is answered."""
        self.answering = True

    async def hang_up(self) -> None:
        """Close the peer connection cleanly (the station hears DTLS close and an SCTP abort)."""
        await self._close_pc()

    async def _answer_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            if not self.answering:
                log.info("simulated GP: network down, offer ignored")
                continue
            try:
                await self._answer(offer)
            except Exception:  # a broken offer must not end the simulated GP
                log.exception("simulated GP could not answer an offer")

    async def _answer(self, offer: Mapping[str, object]) -> None:
        await self._close_pc()  # the console replaces its peer connection on every new offer
        pc = self._pc = RTCPeerConnection(ice_configuration(self._ice_servers))
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=str(offer["sdp"]), type=str(offer["type"])))
        await pc.setLocalDescription(await pc.createAnswer())
        self.connections += 1
        await self._reply({"type": "answer", "sdp": pc.localDescription.sdp})

    async def _close_pc(self) -> None:
        pc, self._pc, self._control = self._pc, None, None
        self._control_open.clear()
        if pc is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await pc.close()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label == "control":
            self._control = channel
            channel.on("message", self._on_control)
            self._control_open.set()
            if self._rejoin and self.session is not None:
                channel.send(encode("join", session=self.session, gp=self._identity.model_dump()))
        elif channel.label == "vitals":
            channel.on("message", self._on_vitals_message)

    def _on_control(self, text: str | bytes) -> None:
        self.control.put(json.loads(text))

    def _on_vitals_message(self, text: str | bytes) -> None:
        arrived = time.monotonic()
        message = json.loads(text)
        if self._on_vitals is not None:
            self._on_vitals(arrived, message)
        self.vitals.put(message)

    def audio(self, seconds: float) -> np.ndarray:
        """The last `seconds` of decoded stethoscope sound, mono int16 at 48 kHz (less if less came)."""
        kept = np.concatenate(list(self._audio)) if self._audio else np.zeros(0, np.int16)
        return kept[-int(seconds * 48_000):]

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.spawn(self._watch(track), "video")
        elif track.kind == "audio":
            self._tasks.spawn(self._listen(track), "audio")

    async def _listen(self, track: MediaStreamTrack) -> None:
        """Keep every decoded audio frame's first channel (aiortc decodes Opus to interleaved s16 stereo)."""
        try:
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray()  # type: ignore[union-attr]
                mono = samples[0, :: len(frame.layout.channels)]  # type: ignore[union-attr]
                self.audio_frames_received += 1
                self._audio.append(mono)
                if self._on_audio is not None:
                    self._on_audio(time.monotonic(), mono)
        except MediaStreamError:
            return

    async def _watch(self, track: MediaStreamTrack) -> None:
        """Take every decoded frame (aiortc decodes them anyway) and note its size and brightness."""
        try:
            while True:
                frame = await track.recv()
                luma = np.frombuffer(memoryview(frame.planes[0]), np.uint8)  # type: ignore[union-attr]
                self.frames_received += 1
                self.frame_size = (frame.width, frame.height)  # type: ignore[union-attr]
                self.frame_brightness = float(luma[:: 97].mean()) if luma.size else None
        except MediaStreamError:
            return
