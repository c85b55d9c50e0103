"""An aiortc data channel as a message channel, with flow control both ways.

Sends wait for the channel to open and for its buffer to drain below a high-water mark; the
GP's messages wait in a bounded inbox, past which newer ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCDataChannel

from session.channel import ChannelClosed

log = logging.getLogger(__name__)

INBOX_LIMIT = 256  # control messages waiting to be handled before newer ones are dropped
HIGH_WATER = 256 * 1024  # bytes queued on a data channel before a sender waits
LOW_WATER = 64 * 1024


class DataChannelLink:
    """An aiortc data channel as a MessageChannel: sends wait for the channel to open and drain."""

    def __init__(self, channel: RTCDataChannel, *, incoming: bool = True,
                 on_close: Callable[[], None] | None = None) -> None:
        self._channel = channel
        self._incoming = incoming
        self._on_close = on_close
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._opened = asyncio.Event()  # also set on close, to wake senders
        self._drained = asyncio.Event()
        self._closed = False
        self.dropped = 0
        channel.bufferedAmountLowThreshold = LOW_WATER
        if channel.readyState == "open":
            self._opened.set()
        channel.on("open", self._opened.set)
        channel.on("message", self._received)
        channel.on("close", self._gone)
        channel.on("bufferedamountlow", self._drained.set)

    @property
    def label(self) -> str:
        """The data channel's label ("control" or "vitals")."""
        return self._channel.label

    @property
    def closed(self) -> bool:
        """True once either end closed the channel."""
        return self._closed

    async def send(self, message: str) -> None:
        """Send once the channel is open, after the backlog drains; ChannelClosed when it is closed."""
        await self._opened.wait()
        if self._channel.bufferedAmount > HIGH_WATER and not self._closed:
            self._drained.clear()
            await self._drained.wait()
        if self._closed or self._channel.readyState != "open":
            raise ChannelClosed(f"the {self.label} channel is closed")
        try:
            self._channel.send(message)
        except ValueError as exc:  # larger than the GP's browser accepts: nothing else can carry it
            log.warning("a %s message of %s characters was not sent: %s", self.label, len(message), exc)

    async def recv(self) -> str:
        """The next message from the GP; ChannelClosed once the channel is closed."""
        item = await self._inbox.get()
        if item is None:
            self._inbox.put_nowait(None)  # every later recv() hears it too
            raise ChannelClosed(f"the {self.label} channel is closed")
        return item

    def close(self) -> None:
        """Close the channel both ways; idempotent."""
        if not self._closed:
            self._gone()
            if self._channel.readyState in ("connecting", "open"):
                self._channel.close()

    def _received(self, message: str | bytes) -> None:
        if not self._incoming or self._closed:
            return
        if self._inbox.qsize() >= INBOX_LIMIT:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("the GP sends faster than the station answers: %s messages dropped", self.dropped)
            return
        # Bytes are read as UTF-8 (a bad byte becomes U+FFFD) and validated like any text.
        self._inbox.put_nowait(message if isinstance(message, str) else message.decode("utf-8", "replace"))

    def _gone(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._opened.set()
        self._drained.set()
        self._inbox.put_nowait(None)
        if self._on_close is not None:
            self._on_close()
