"""A bounded stream of readings for one consumer: the device manager hands one to each subscriber."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from devices.measurements import Reading
from runtime.errors import StationError


class SubscriptionClosed(StationError):
    """The subscription was closed and every reading in it has been read."""


class Subscription:
    """A bounded stream of readings for one consumer; when full, the oldest is dropped."""

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("a subscription holds at least one reading")
        self._items: deque[Reading] = deque(maxlen=maxsize)
        # The one consumer's pending get(), if it waits.
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._dropped = 0

    @property
    def maxsize(self) -> int:
        """How many readings the subscription holds before it drops the oldest."""
        return self._items.maxlen or 0

    @property
    def dropped(self) -> int:
        """How many readings were dropped because the consumer fell behind."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """True once the manager stopped or the consumer unsubscribed."""
        return self._closed

    def qsize(self) -> int:
        """How many readings wait to be read."""
        return len(self._items)

    def offer(self, reading: Reading) -> None:
        """Queue `reading`, dropping the oldest one when full; ignored once closed."""
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self._dropped += 1
        self._items.append(reading)
        self._wake()

    def get_nowait(self) -> Reading | None:
        """The oldest waiting reading, or None when there is none."""
        return self._items.popleft() if self._items else None

    async def get(self) -> Reading:
        """Wait for the next reading; raise SubscriptionClosed once closed and drained.

        A subscription has one consumer: a second get() waiting at the same time is an error.
        """
        while not self._items:
            if self._closed:
                raise SubscriptionClosed("the reading subscription is closed")
            await self._wait()
        return self._items.popleft()

    def close(self) -> None:
        """End the stream; readings already queued can still be read."""
        self._closed = True
        self._wake()

    def _wait(self) -> asyncio.Future[None]:
        """A new future for the one consumer to await."""
        if self._waiter is not None and not self._waiter.done():
            raise RuntimeError("a subscription has one consumer; another get() is waiting")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():  # done: the consumer was cancelled
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Reading]:
        return self

    async def __anext__(self) -> Reading:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None
