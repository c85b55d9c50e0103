"""runtime.listeners: listeners told in order, a failing one logged and the rest still told, removal idempotent."""

from __future__ import annotations

import logging

import pytest

from runtime.listeners import Listeners

log = logging.getLogger(__name__)


def test_every_listener_is_told_even_after_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    listeners: Listeners[[str, int]] = Listeners(log, "a test listener")
    heard: list[tuple[str, str, int]] = []

    def broken(name: str, count: int) -> None:
        raise RuntimeError("a bug")

    listeners.add(lambda name, count: heard.append(("first", name, count)))
    listeners.add(broken)
    listeners.add(lambda name, count: heard.append(("last", name, count)))
    listeners.tell("x", 2)
    assert heard == [("first", "x", 2), ("last", "x", 2)]
    assert [r.getMessage() for r in caplog.records] == ["a test listener failed"]
    assert caplog.records[0].exc_info is not None  # with the traceback


def test_a_removed_listener_is_no_longer_told_and_removing_twice_is_harmless() -> None:
    listeners: Listeners[[]] = Listeners(log, "a test listener")
    heard: list[str] = []
    remove = listeners.add(lambda: heard.append("a"))
    listeners.add(lambda: heard.append("b"))
    remove()
    remove()
    listeners.tell()
    assert heard == ["b"]


def test_a_listener_may_remove_itself_while_being_told() -> None:
    listeners: Listeners[[]] = Listeners(log, "a test listener")
    heard: list[str] = []

    def once() -> None:
        heard.append("once")
        remove()

    remove = listeners.add(once)
    listeners.add(lambda: heard.append("always"))
    listeners.tell()
    listeners.tell()
    assert heard == ["once", "always", "always"]
