"""One owner for background tasks: spawn, keep, report a failure with its traceback, cancel in bounded time.

Every component that starts background work holds one `TaskSet` and cancels it in `stop()`.
A task that ends with an exception is logged at ERROR with the traceback (a bug must be seen,
never swallowed); a cancelled task is not an error. `CancelledError` is never swallowed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    """The background tasks of one component."""

    def __init__(self, owner: str, log: logging.Logger) -> None:
        """`owner` names the component in task names and failure logs."""
        self._owner = owner
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run `coro` as a task of this set, named `owner-name`."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._owner}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def cancel_all(self, timeout_s: float = 5.0) -> None:
        """Cancel every task and wait for them, at most `timeout_s` real seconds; idempotent."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                self._log.warning("%s did not stop within %s s", task.get_name(), timeout_s)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("task %s failed", task.get_name(), exc_info=task.exception())
