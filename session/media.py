"""The instruments leg (docs/design.md, "Media"): the station's aiortc peer connection to one GP's browser.

An `InstrumentLeg` carries the examination camera that is on, the stethoscope's sound, a send-only
`vitals` data channel (readings, guidance, snapshots) and a `control` data channel (GP requests,
replies). The station is the offerer; aiortc gathers every candidate before it describes itself, so
the offer is complete and only the browser trickles candidates. A `MediaDirector` keeps one leg per
GP connection: it offers when a GP joins and, when a leg's path fails or goes silent, closes it and
offers a fresh one to the same GP (the console replaces its peer connection and joins again within
the cabin's reconnect grace; past the grace the cabin ends the consultation on its own).

The video is a `CameraTrack` (`session/camera_track.py`), which keeps RTP flowing even while the
camera is off, so a silent path is noticed in seconds rather than after ICE consent's 30 s; the
data channels are `DataChannelLink`s (`session/datachannel.py`). The stethoscope's sound is a
`StethoscopeTrack` (`session/stethoscope_track.py`): Opus it encodes itself, silence while off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from aiortc.stats import RTCTransportStats

from devices.cameras import ExaminationCameras
from devices.stethoscope import Stethoscope
from protocol.hub import GpIdentity, IceTransportPolicy
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.camera_track import CameraTrack
from session.channel import MessageChannel
from session.datachannel import DataChannelLink
from session.stethoscope_track import StethoscopeTrack

log = logging.getLogger(__name__)

MAX_EARLY_CANDIDATES = 64  # candidates kept until the answer they belong to arrives

IceServerSpec = Mapping[str, object]  # {"urls": [...], "username": ..., "credential": ...}
StateListener = Callable[[str], None]


class MediaError(StationError):
    """The instruments leg could not be set up or was given something it cannot use."""


def ice_configuration(servers: Sequence[IceServerSpec], policy: IceTransportPolicy = "all") -> RTCConfiguration:
    """aiortc's configuration for STUN/TURN servers given as RTCIceServer JSON dicts; with `policy` "relay"
    it gathers and uses relayed (TURN) candidates only, as a browser's `iceTransportPolicy: "relay"` does
    (docs/design.md, "TURN")."""
    ice: list[RTCIceServer] = []
    for number, server in enumerate(servers, 1):
        urls, username, credential = server.get("urls"), server.get("username"), server.get("credential")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list | tuple) or not urls or not all(isinstance(u, str) for u in urls):
            raise MediaError(f"ICE server #{number}: 'urls' must be a URL or a non-empty list of URLs")
        if not isinstance(username, str | None) or not isinstance(credential, str | None):
            raise MediaError(f"ICE server #{number}: 'username' and 'credential' must be text")
        ice.append(RTCIceServer(urls=list(urls), username=username, credential=credential))
    if policy == "relay" and not any(u.startswith(("turn:", "turns:")) for s in ice for u in s.urls):
        raise MediaError('the "relay" ICE transport policy needs a TURN server')
    transport = RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL
    # An empty list, not None: aiortc would add Google's STUN.
    return RTCConfiguration(iceServers=ice, iceTransportPolicy=transport)


@dataclass(frozen=True, slots=True)
class LegTimings:
    """Limits of one instruments leg, in real seconds (network time does not follow a fast clock)."""

    offer_timeout_s: float = 20.0  # gathering every candidate, TURN allocations included
    silence_s: float = 10.0  # nothing at all from the GP this long: the path is gone
    check_interval_s: float = 1.0
    close_timeout_s: float = 5.0
    placeholder_period_s: float = 1.0


class InstrumentLeg:
    """One aiortc peer connection from the station to one GP's browser; the station offers."""

    def __init__(self, ice_servers: Sequence[IceServerSpec], cameras: ExaminationCameras | None, *,
                 on_state: StateListener | None = None, timings: LegTimings | None = None,
                 video_codec: str | None = None, stethoscope: Stethoscope | None = None,
                 transport_policy: IceTransportPolicy = "all") -> None:
        """`on_state` hears "connecting", "connected", "failed" and "closed"; `video_codec` e.g. "video/H264";
        `transport_policy` "relay" sends everything through TURN."""
        self._timings = timings or LegTimings()
        self._on_state = on_state
        self._pc = RTCPeerConnection(ice_configuration(ice_servers, transport_policy))
        self.track = CameraTrack(cameras, placeholder_period_s=self._timings.placeholder_period_s)
        transceiver = self._pc.addTransceiver(self.track, direction="sendonly")
        if video_codec is not None:
            _prefer_codec(transceiver, video_codec)
        self.audio = StethoscopeTrack(stethoscope)
        _prefer_codec(self._pc.addTransceiver(self.audio, direction="sendonly"), "audio/opus")  # packets it made
        self.control = DataChannelLink(self._pc.createDataChannel("control", ordered=True),
                                       on_close=lambda: self._lose("closed", "the control channel closed"))
        self.vitals = DataChannelLink(self._pc.createDataChannel("vitals", ordered=True), incoming=False)
        self.state = "new"
        self.lost_reason: str | None = None
        self._changed = asyncio.Event()
        self._pending: list[Mapping[str, object]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False
        self._pc.on("connectionstatechange", self._on_connection_state)

    async def offer(self) -> dict[str, str]:
        """The complete offer ({"type", "sdp"}, every candidate in it) to send to the GP."""
        if self._closed:
            raise MediaError("this instruments leg is closed")
        try:
            async with asyncio.timeout(self._timings.offer_timeout_s):
                await self._pc.setLocalDescription(await self._pc.createOffer())
        except TimeoutError as exc:
            raise MediaError(f"gathering ICE candidates took over {self._timings.offer_timeout_s:g} s") from exc
        description = self._pc.localDescription
        return {"type": description.type, "sdp": description.sdp}

    async def accept(self, answer: Mapping[str, object]) -> None:
        """Apply the GP's answer; MediaError (and the leg fails) when it cannot be used."""
        sdp = answer.get("sdp")
        if answer.get("type") != "answer" or not isinstance(sdp, str) or not sdp:
            raise MediaError("an instruments answer has type 'answer' and an SDP")
        if self._closed or self._pc.signalingState != "have-local-offer":
            raise MediaError("this instruments leg is not waiting for an answer")
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # untrusted text into aiortc's parser: any error means "unusable"
            self._lose("failed", f"the answer was refused: {exc}")
            raise MediaError(f"the GP's answer cannot be used: {exc}") from exc
        pending, self._pending = self._pending, []
        for candidate in pending:
            try:
                await self.add_candidate(candidate)
            except MediaError as exc:  # the answer stands; ICE tries the other candidates
                log.warning("an early ICE candidate was not used: %s", exc)

    async def add_candidate(self, candidate: Mapping[str, object]) -> None:
        """Add a candidate the GP's browser trickled; an empty one (end of candidates) is ignored."""
        text, mid, index = candidate.get("candidate"), candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
        if text is None or text == "":
            return
        if not isinstance(text, str) or not isinstance(mid, str | None) or not isinstance(index, int | None):
            raise MediaError("an ICE candidate is {candidate: text, sdpMid: text, sdpMLineIndex: number}")
        if self._pc.remoteDescription is None:  # it overtook the answer
            if len(self._pending) >= MAX_EARLY_CANDIDATES:
                raise MediaError("too many ICE candidates before the answer")
            self._pending.append(candidate)
            return
        try:
            parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            parsed.sdpMid = mid
            parsed.sdpMLineIndex = 0 if index is None and mid is None else index  # bundled: one transport
            await self._pc.addIceCandidate(parsed)
        except Exception as exc:  # untrusted text into aiortc's parser
            raise MediaError(f"the ICE candidate cannot be used: {exc}") from exc

    def show_instruments(self, session: str | None) -> None:
        """GpLink's session listener: the camera shows and the stethoscope sounds only to the GP in consultation."""
        self.track.show(session is not None)
        self.audio.show(session is not None)

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until ICE and DTLS are up; MediaError if the leg fails or time runs out first."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.state != "connected" and self.lost_reason is None:
                    await self._changed.wait()
        except TimeoutError as exc:
            raise MediaError(f"the GP's browser did not connect within {timeout_s:g} s") from exc
        if self.lost_reason is not None:
            raise MediaError(f"the instruments leg failed: {self.lost_reason}")

    async def wait_lost(self) -> str:
        """Wait until the leg fails or closes; returns why."""
        while self.lost_reason is None:
            await self._changed.wait()
        return self.lost_reason

    async def close(self) -> None:
        """Close the connection and both channels; idempotent and bounded."""
        if self._closed:
            return
        self._closed = True
        self._lose("closed", "closed by the station")
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
        self.control.close()
        self.vitals.close()
        self.track.stop()
        self.audio.stop()
        try:
            async with asyncio.timeout(self._timings.close_timeout_s):
                await self._pc.close()
        except TimeoutError:
            log.warning("closing an instruments leg took over %s s", self._timings.close_timeout_s)

    def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        if state in ("failed", "closed"):
            self._lose(state, f"ICE/DTLS {state}")
        elif state != self.state and self.lost_reason is None:
            self._set_state(state)
            if state == "connected" and self._watchdog is None:
                self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="leg-watchdog")

    def _lose(self, state: str, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason
            self._set_state(state)

    def _set_state(self, state: str) -> None:
        self.state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("an instruments leg state listener failed")

    async def _watch(self) -> None:
        """Declare the leg failed when nothing (RTCP, SCTP, DTLS) came from the GP for silence_s."""
        timings = self._timings
        count, since = -1, time.monotonic()
        while self.lost_reason is None:
            await asyncio.sleep(timings.check_interval_s)
            try:
                report = await self._pc.getStats()
            except Exception as exc:  # the connection is closing under us: the state change says so
                log.debug("no statistics from the instruments leg: %s", exc)
                continue
            received = sum(s.packetsReceived for s in report.values() if isinstance(s, RTCTransportStats))
            now = time.monotonic()
            if received != count:
                count, since = received, now
            elif now - since >= timings.silence_s:
                self._lose("failed", f"nothing from the GP for {timings.silence_s:g} s")


def _prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    codecs = [c for c in capabilities if c.mimeType.lower() == mime_type.lower()]
    if not codecs:
        raise MediaError(f"aiortc cannot send {mime_type}")
    transceiver.setCodecPreferences(codecs)


Attach = Callable[[MessageChannel, DataChannelLink, Callable[[str | None], None], GpIdentity | None], None]
SendSignal = Callable[[str, dict[str, str]], Awaitable[None]]
LegListener = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class DirectorTimings:
    """How long the director waits for a GP to connect, and how it backs off between offers."""

    connect_timeout_s: float = 30.0  # from sending the offer to ICE and DTLS up
    retry_initial_s: float = 1.0
    retry_max_s: float = 15.0
    stop_timeout_s: float = 5.0


@dataclass
class _Gp:
    """One GP connection: its supervising task and its current leg."""

    gp: str
    backoff: Backoff
    identity: GpIdentity | None = None  # as the hub authenticated this connection
    task: asyncio.Task[None] | None = None
    leg: InstrumentLeg | None = None
    orphaned: bool = False  # its hub connection closed: its leg goes on while up, and is not offered again


class MediaDirector:
    """Keeps one instruments leg per GP connection, renegotiating a fresh one when a leg is lost."""

    def __init__(self, attach: Attach, send_signal: SendSignal, cameras: ExaminationCameras | None, *,
                 ice_servers: Sequence[IceServerSpec] = (), leg_timings: LegTimings | None = None,
                 timings: DirectorTimings | None = None, on_leg_state: LegListener | None = None,
                 stethoscope: Stethoscope | None = None, on_orphan_lost: Callable[[str], None] | None = None) -> None:
        """`attach` is GpLink.attach; `send_signal(gp, description)` reaches the GP through the hub;
        `on_orphan_lost(gp)` hears that a leg kept for a GP whose hub connection closed has dropped."""
        self._on_orphan_lost = on_orphan_lost
        self._attach = attach
        self._stethoscope = stethoscope
        self._send_signal = send_signal
        self._cameras = cameras
        self._ice_servers = list(ice_servers)
        self._ice_policy: IceTransportPolicy = "all"
        ice_configuration(self._ice_servers)  # a wrong server list is a configuration error: say so now
        self._leg_timings = leg_timings or LegTimings()
        self._timings = timings or DirectorTimings()
        self._on_leg_state = on_leg_state
        self._gps: dict[str, _Gp] = {}
        self._tasks = TaskSet("instruments", log)
        self._running = False

    async def start(self) -> None:
        """Accept GPs from now on; idempotent."""
        self._running = True

    async def stop(self) -> None:
        """Close every leg and stop every task; idempotent and bounded."""
        self._running = False
        gps, self._gps = list(self._gps.values()), {}
        await asyncio.gather(*(self._drop(gp) for gp in gps))
        await self._tasks.cancel_all(self._timings.stop_timeout_s)

    def set_ice_servers(self, servers: Sequence[IceServerSpec], policy: IceTransportPolicy = "all") -> None:
        """STUN/TURN servers and the transport policy for the next legs (the hub's welcome gives them)."""
        ice_configuration(servers, policy)
        self._ice_servers, self._ice_policy = list(servers), policy

    @property
    def gp_ids(self) -> tuple[str, ...]:
        """The GP connections this director keeps a leg for."""
        return tuple(self._gps)

    def leg(self, gp_id: str) -> InstrumentLeg | None:
        """The current leg to this GP, if any."""
        gp = self._gps.get(gp_id)
        return gp.leg if gp else None

    async def gp_joined(self, gp_id: str, identity: GpIdentity | None = None) -> None:
        """A GP asked for the cabin: offer it an instruments leg (nothing if it has one).

        `identity` is the hub's record of the GP: the leg's joins carry it (see GpLink.attach).
        """
        if not self._running:
            raise MediaError("the media director is not started")
        known = self._gps.get(gp_id)
        if known is not None and not known.orphaned:
            return
        if known is not None:  # a leg kept for her, which she did not take back: a fresh one
            await self.gp_left(gp_id)
        backoff = Backoff(self._timings.retry_initial_s, self._timings.retry_max_s)
        gp = self._gps[gp_id] = _Gp(gp_id, backoff, identity)
        gp.task = self._tasks.spawn(self._serve(gp), gp_id)

    async def gp_left(self, gp_id: str) -> None:
        """Close the GP's leg and stop offering."""
        gp = self._gps.pop(gp_id, None)
        if gp is not None:
            await self._drop(gp)

    async def orphan(self, gp_id: str) -> None:
        """The GP's connection to the hub closed: a leg that is up goes on, for she may come back to it on a new
        connection (`rebind`), and is not offered again once lost; one not up is closed now (docs/design.md,
        "A fleet of hubs")."""
        gp = self._gps.get(gp_id)
        if gp is None:
            return
        if gp.leg is not None and gp.leg.state == "connected":
            gp.orphaned = True
        else:
            await self.gp_left(gp_id)

    def rebind(self, old_id: str, new_id: str) -> bool:
        """The GP came back, on a new hub connection or the same one, with her leg still up: it goes on under
        that connection. False when there is no such leg up (the connection gets a fresh one)."""
        gp = self._gps.get(old_id)
        if gp is None or gp.leg is None or gp.leg.state != "connected":
            return False
        if new_id != old_id:
            if new_id in self._gps:
                return False
            del self._gps[old_id]
            gp.gp = new_id
            self._gps[new_id] = gp
        gp.orphaned = False
        return True

    async def drop_orphans(self) -> None:
        """The consultation is over: close the legs kept for GPs who did not come back."""
        for gp_id in [g for g, gp in self._gps.items() if gp.orphaned]:
            await self.gp_left(gp_id)

    async def answer(self, gp_id: str, description: Mapping[str, object]) -> None:
        """The GP's answer to the current offer; MediaError when there is no offer or it is unusable."""
        await self._current(gp_id).accept(description)

    async def candidate(self, gp_id: str, candidate: Mapping[str, object]) -> None:
        """A candidate trickled by the GP's browser for the current leg."""
        await self._current(gp_id).add_candidate(candidate)

    def _current(self, gp_id: str) -> InstrumentLeg:
        leg = self.leg(gp_id)
        if leg is None:
            raise MediaError("no instruments leg is being set up for this GP")
        return leg

    async def _drop(self, gp: _Gp) -> None:
        task = gp.task
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=self._timings.stop_timeout_s)
        if gp.leg is not None:
            await gp.leg.close()

    async def _serve(self, gp: _Gp) -> None:
        """Offer, connect, serve until lost, and again; back off while offers go unanswered."""
        while True:
            leg = gp.leg = InstrumentLeg(self._ice_servers, self._cameras, timings=self._leg_timings,
                                         on_state=self._state_of(gp),
                                         stethoscope=self._stethoscope, transport_policy=self._ice_policy)
            try:
                await self._send_signal(gp.gp, await leg.offer())
                await leg.wait_connected(self._timings.connect_timeout_s)
                gp.backoff.reset()
                self._attach(leg.control, leg.vitals, leg.show_instruments, gp.identity)
                reason = await leg.wait_lost()
                if gp.orphaned:
                    log.info("instruments leg to GP %s, whose hub connection closed, ended (%s)", gp.gp, reason)
                    if self._gps.get(gp.gp) is gp:
                        del self._gps[gp.gp]
                    if self._on_orphan_lost is not None:
                        self._on_orphan_lost(gp.gp)
                    return
                if leg.state == "failed":
                    log.warning("instruments leg to GP %s lost (%s): offering a fresh one", gp.gp, reason)
                else:  # closed on purpose: the console closes its side when the consultation ends
                    log.info("instruments leg to GP %s closed (%s): offering a fresh one", gp.gp, reason)
                continue  # at once: the GP is within the cabin's reconnect grace
            except StationError as exc:
                log.warning("instruments leg to GP %s not up (%s): offering again", gp.gp, exc)
            except Exception:  # e.g. the hub's connection broke while signalling: keep serving this GP
                log.exception("instruments leg to GP %s failed: offering again", gp.gp)
            finally:
                await leg.close()
            await gp.backoff.pause()

    def _state_of(self, gp: _Gp) -> StateListener:
        """A leg's state listener, naming its GP connection as it is when the state changes (it may be rebound)."""
        return lambda state: self._leg_state(gp.gp, state)

    def _leg_state(self, gp_id: str, state: str) -> None:
        log.info("instruments leg to GP %s: %s", gp_id, state)
        if self._on_leg_state is not None:
            self._on_leg_state(gp_id, state)
