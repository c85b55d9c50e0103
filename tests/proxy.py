"""A TCP proxy a test cuts (docs/design.md, "A day without network"): it forwards to a server, and can cut
every connection and refuse new ones, or cut a response after a number of its bytes."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableLink:
    """Forwards connections on 127.0.0.1:`port` (port 0 until started) to `host`:`target`."""

    def __init__(self, host: str, target: int) -> None:
        self._host, self._target = host, target
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._down = False
        self._budget: int | None = None  # bytes of responses still let through before a cut
        self.cuts = 0
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Cut every connection and refuse the next ones until `restore`."""
        self._down = True
        for writer in list(self._open):
            writer.close()

    def restore(self) -> None:
        """Let connections through again."""
        self._down = False

    def cut_response_after(self, size: int) -> None:
        """Cut the connection that carries the `size`th byte from the server from now on (once)."""
        self._budget = size

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._target)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True))
        finally:
            for end in (writer, up_writer):
                self._open.discard(end)
                end.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bool) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(4096):
                if response and self._budget is not None:
                    if len(chunk) >= self._budget:
                        writer.write(chunk[:self._budget])
                        self._budget, self.cuts = None, self.cuts + 1
                        await writer.drain()
                        writer.transport.abort()
                        return
                    self._budget -= len(chunk)
                writer.write(chunk)
                await writer.drain()
        writer.close()
