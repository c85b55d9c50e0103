"""The entry lock follows the cabin: held shut while the cabin awaits or undergoes cleaning.

The lock is a convenience, not the safeguard (the durable cleaning mark is): a relay that
fails is logged and shown in diagnostics, and never stops the cabin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from drivers.entry_lock import EntryLock
from protocol.states import CabinState
from runtime.errors import StationError
from runtime.tasks import TaskSet
from session.core import CabinCore
from session.events import CabinEvent, StateChanged

log = logging.getLogger(__name__)

LOCKED_STATES = frozenset({CabinState.AWAITING_CLEANING, CabinState.CLEANING})


class EntryFollower:
    """Engages or releases the entry lock as the cabin's state changes."""

    def __init__(self, cabin: CabinCore, lock: EntryLock) -> None:
        self._cabin = cabin
        self.lock = lock
        self._wanted: asyncio.Queue[bool] = asyncio.Queue(maxsize=1)
        self._tasks = TaskSet("entry-lock", log)
        self._unsubscribe: Callable[[], object] | None = None

    async def start(self) -> None:
        """Start the relay and follow the cabin from its current state."""
        await self.lock.start()
        self._unsubscribe = self._cabin.subscribe(self._on_event)
        self._want(self._cabin.state in LOCKED_STATES)
        self._tasks.spawn(self._follow(), "follow")

    async def stop(self) -> None:
        """Stop following and release the lock; idempotent."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._tasks.cancel_all()
        await self.lock.stop()

    def _on_event(self, event: CabinEvent) -> None:
        if isinstance(event, StateChanged):
            self._want(event.state in LOCKED_STATES)

    def _want(self, engaged: bool) -> None:
        if self._wanted.full():
            self._wanted.get_nowait()  # only the newest wish matters
        self._wanted.put_nowait(engaged)

    async def _follow(self) -> None:
        while True:
            engaged = await self._wanted.get()
            if engaged == self.lock.engaged and self.lock.connected:
                continue
            try:
                await (self.lock.engage() if engaged else self.lock.release())
            except StationError as exc:
                log.info("entry lock: %s", exc)  # re-sent by the lock itself when the board is back
