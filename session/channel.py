"""Message channels: how a GP's control messages reach the station.

A channel carries text messages both ways. The instruments leg's `control` data channel is
one (`session/media.py`'s DataChannelLink); `channel_pair` gives two connected in-process ends
(queues), which the simulated GP uses the way aiortc's tests use fake transports.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from runtime.errors import StationError


class ChannelClosed(StationError):
    """The other end has gone."""


class MessageChannel(Protocol):
    """A bidirectional text-message channel."""

    async def send(self, message: str) -> None:
        """Send one message; ChannelClosed if the channel is closed."""

    async def recv(self) -> str:
        """Wait for the next message; ChannelClosed once the channel is closed."""

    def close(self) -> None:
        """Close both directions."""


_CLOSED = object()


class LocalChannel:
    """One end of an in-process channel pair."""

    def __init__(self, inbox: asyncio.Queue[object], outbox: asyncio.Queue[object]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._closed = False

    async def send(self, message: str) -> None:
        """Put a message in the other end's inbox."""
        if self._closed:
            raise ChannelClosed("channel closed")
        self._outbox.put_nowait(message)

    async def recv(self) -> str:
        """Take the next message from this end's inbox."""
        if self._closed:
            raise ChannelClosed("channel closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._closed = True
            raise ChannelClosed("channel closed by the other end")
        assert isinstance(item, str)
        return item

    def close(self) -> None:
        """Close this end and tell the other."""
        if not self._closed:
            self._closed = True
            self._outbox.put_nowait(_CLOSED)
            self._inbox.put_nowait(_CLOSED)


def channel_pair() -> tuple[LocalChannel, LocalChannel]:
    """Two connected channel ends."""
    a: asyncio.Queue[object] = asyncio.Queue()
    b: asyncio.Queue[object] = asyncio.Queue()
    return LocalChannel(a, b), LocalChannel(b, a)
