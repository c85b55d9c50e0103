"""The hub's peers: every socket's writer is a task the hub owns; a writer that fails is seen, never silent."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSCloseCode

from hub.peers import Peer
from hub.server import Hub
from protocol.hub import GpLeft
from runtime.tasks import TaskSet
from tests.conftest import eventually
from tests.test_hub import NANGIS_TOKEN, closed, gp_socket, hub_config, station_socket


class BrokenSocket:
    """A WebSocket whose every send hits a bug; it records how it was closed."""

    def __init__(self) -> None:
        self.closed: tuple[int, bytes] | None = None

    async def send_str(self, text: str) -> None:
        raise RuntimeError("a bug under the writer")

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed = (code, message)
        return True


def writers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("hub-writer")]


async def test_a_writer_that_fails_closes_its_socket_and_is_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    ws = BrokenSocket()
    tasks = TaskSet("hub", logging.getLogger("hub.relay"))
    peer = Peer(ws, "GP gp-test")  # type: ignore[arg-type]  # only send_str and close are reached
    peer.start(tasks)
    peer.send(GpLeft(gp="gp-test"))
    await eventually(lambda: ws.closed is not None and len(tasks) == 0)
    assert ws.closed == (WSCloseCode.INTERNAL_ERROR, b"hub error")  # the other side reconnects, not waits
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.name == "hub.relay" and "hub-writer GP gp-test" in failure.getMessage()
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], RuntimeError)
    await peer.stop()  # after a failure too


async def test_every_socket_writer_is_a_hub_task_and_none_outlives_stop(tmp_path: Path) -> None:
    server = Hub(hub_config(), console_dir=tmp_path)
    await server.start()
    async with aiohttp.ClientSession() as http:
        session, gp = await gp_socket(server, "claire")
        station = await station_socket(http, server, NANGIS_TOKEN)
        try:
            names = sorted(t.get_name() for t in writers())
            assert len(names) == 2 and names[0].startswith("hub-writer GP gp-")
            assert names[1] == "hub-writer station cab-nangis"
            await server.stop()
            assert writers() == []
            for ws in (gp, station):
                message = await closed(ws)
                assert message.type is aiohttp.WSMsgType.CLOSE and message.data == WSCloseCode.GOING_AWAY
        finally:
            await server.stop()
            await session.close()


class UnclosableSocket(BrokenSocket):
    """A WebSocket whose closing hits a bug."""

    async def close(self, *, code: int, message: bytes) -> bool:
        raise RuntimeError("a bug while closing")


async def test_a_socket_that_cannot_be_closed_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    peer = Peer(UnclosableSocket(), "station cab-nangis")  # type: ignore[arg-type]  # only close is reached
    await peer.close(WSCloseCode.GOING_AWAY, b"hub stopping")  # the hub's stop goes on with the other peers
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "station cab-nangis" in failure.getMessage()
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], RuntimeError)
