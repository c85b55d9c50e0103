"""The listeners of one component: add one (and get back the function that removes it), tell them all.

A failing listener is logged with its traceback and the others are still told: one screen's bug
never stops the cabin, a device or another screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Listeners(Generic[P]):
    """Functions called with the same arguments on every change of one component."""

    def __init__(self, log: logging.Logger, label: str) -> None:
        """`label` names a listener in the failure log ("a cabin listener")."""
        self._log = log
        self._label = label
        self._listeners: list[Callable[P, None]] = []

    def add(self, listener: Callable[P, None]) -> Callable[[], None]:
        """Call `listener` on every `tell`; returns the function that removes it (idempotent)."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def tell(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every listener, in the order they were added; a failing one is logged, never raised."""
        for listener in tuple(self._listeners):
            try:
                listener(*args, **kwargs)
            except Exception:
                self._log.exception("%s failed", self._label)
