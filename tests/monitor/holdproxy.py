"""A TCP proxy in front of a real redis-server that can hold back what clients send: a slow
link, made deterministic. Connections accepted while `holding` is set keep their client->server
script calls (EVAL, EVALSHA) in the proxy until release(); everything else, the connection
handshake included, flows at once (redis-py connects under its pool's lock). A claim on a held
connection reaches Redis after claims made later on other connections (docs/monitor.md,
several instances)."""

from __future__ import annotations

import asyncio
import contextlib


class HoldProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.holding = False
        self.waiting = 0  # held connections with a script call waiting
        self._gate = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> HoldProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def release(self) -> None:
        self.holding = False
        self._gate.set()

    async def wait_held(self, n: int, timeout: float = 5.0) -> None:
        """Until `n` held connections have a script call waiting here."""
        async with asyncio.timeout(timeout):
            while self.waiting < n:
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        self._gate.set()
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(BaseException):
                await t

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held = self.holding
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        for src, dst, gate in ((reader, up_writer, held), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(src, dst, gate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, held: bool) -> None:
        try:
            while data := await src.read(65536):
                if held and b"EVAL" in data.upper() and not self._gate.is_set():
                    self.waiting += 1
                    await self._gate.wait()
                    self.waiting -= 1
                dst.write(data)
                await dst.drain()
        except ConnectionError:
            pass
        finally:
            dst.close()
