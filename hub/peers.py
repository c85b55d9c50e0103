"""The hub's WebSocket peers: a GP console or a station, each with a bounded outbox and its read loop.

Every peer's messages go out through its own writer task, so a slow reader delays no one else;
a peer too slow to drain OUTBOX_SIZE messages is disconnected. The writer tasks belong to the
`TaskSet` of whoever accepted the sockets: a writer that fails is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel

from hub.config import GpAccount, StationAccount
from hub.errors import Refusal
from hub.instances import RemoteGp
from protocol.hub import MAX_MESSAGE_BYTES, CabinStatus, ErrorMessage, HubProtocolError, WaitingRoom, dump
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
OUTBOX_SIZE = 1024


def open_socket(heartbeat_s: float) -> web.WebSocketResponse:
    """A WebSocket response with the hub's message size limit and close timeout, pinging every `heartbeat_s`.

    aiohttp closes a socket that answers no ping within half of `heartbeat_s`: a peer whose network
    dropped is seen gone then, not at the next write."""
    return web.WebSocketResponse(heartbeat=heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_S)


def error_reply(code: str, message: str) -> ErrorMessage:
    """The `error` message a peer gets for a message the hub refused."""
    return ErrorMessage(code=code, message=message[:1000])


class Peer:
    """One WebSocket with a bounded outbox drained by its own writer task, so no peer blocks another."""

    def __init__(self, ws: web.WebSocketResponse, name: str) -> None:
        """`name` says who the peer is in logs and in its writer task's name."""
        self.ws = ws
        self.name = name
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._kicked = False
        self._reason = ""

    def start(self, tasks: TaskSet) -> None:
        """Start draining the outbox, as a task of `tasks`."""
        if self._writer is None:
            self._writer = tasks.spawn(self._write(), f"writer {self.name}")

    async def stop(self) -> None:
        """Stop the writer; idempotent. The socket itself is closed by its handler or by kick()."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.wait([self._writer])

    async def close(self, code: int, message: bytes) -> None:
        """Close the socket now; a failure other than a connection already lost is logged with its traceback."""
        try:
            await self.ws.close(code=code, message=message)
        except ConnectionError:
            log.info("%s was already disconnected", self.name)
        except Exception:
            log.exception("%s: its socket could not be closed", self.name)

    def send(self, message: BaseModel) -> None:
        """Queue a message; a peer too slow to drain its outbox is disconnected."""
        self.send_text(dump(message))

    def send_text(self, text: str) -> None:
        """Queue a message already written out (one relayed from another hub instance)."""
        if self._kicked:
            return
        if self._outbox.full():
            log.warning("%s is not reading its messages; disconnecting it", self.name)
            self.kick("too slow")
            return
        self._outbox.put_nowait(text)

    def kick(self, reason: str) -> None:
        """Close the connection, dropping what is still queued."""
        self._kicked = True
        self._reason = reason
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self._outbox.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (text := await self._outbox.get()) is not None:
                await self.ws.send_str(text)
        except ConnectionError:
            return  # the connection is gone: its handler's read loop ends and cleans up
        except Exception:
            # A bug: close the socket so that the other side reconnects rather than waits on a
            # mute connection, and let the task set log the traceback.
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"hub error")
            raise
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=self._reason.encode())


class GpPeer(Peer):
    """A GP console's connection: its login, the stations it is given, the waiting room it was last sent."""

    def __init__(self, ws: web.WebSocketResponse, account: GpAccount, login_key: str) -> None:
        gp_id = f"gp-{secrets.token_hex(8)}"
        super().__init__(ws, f"GP {gp_id}")
        self.id = gp_id
        self.account = account
        self.login_key = login_key
        self.allowed = frozenset(account.stations)
        self.room: WaitingRoom | None = None


class StationPeer(Peer):
    """A station's connection: its last reported status and the GP connection that joined it."""

    def __init__(self, ws: web.WebSocketResponse, account: StationAccount, remote: str | None,
                 connected_at: float) -> None:
        super().__init__(ws, f"station {account.id}")
        self.account = account
        self.remote = remote  # the address it connected from, for the logs
        self.connected_at = connected_at  # the hub's wall time: of two connections in a fleet, the newer wins
        self.status: CabinStatus | None = None
        self.status_at = 0.0  # the hub's wall time when the status came
        self.gp: GpPeer | RemoteGp | None = None  # the GP connection that joined this station (on any instance)...
        self.session: str | None = None  # ...for this session


async def serve(peer: Peer, handle: Callable[[str], None]) -> None:
    """Read messages until the socket closes; each invalid or refused one gets an error reply and a log line."""
    async for msg in peer.ws:
        if msg.type is WSMsgType.ERROR:  # an oversized frame, or a broken connection: aiohttp closes it
            log.warning("%s: connection closed: %s", peer.name, msg.data)
            break
        try:
            if msg.type is not WSMsgType.TEXT:
                raise HubProtocolError("binary frame refused: messages are JSON text")
            handle(msg.data)
        except HubProtocolError as exc:
            log.warning("%s sent an invalid message: %s", peer.name, str(exc)[:200])
            peer.send(error_reply("bad_message", str(exc)))
        except Refusal as exc:
            log.warning("%s refused: %s", peer.name, exc)
            peer.send(error_reply(exc.code, str(exc)))
        except Exception:  # a bug must not take the connection down with it
            log.exception("%s: a message could not be handled", peer.name)
            peer.send(error_reply("internal", "the hub could not handle this message"))
