"""A real HTTP/1.1 receiver on a loopback TCP port that records each request's raw bytes.

It parses only what it must (the head up to the blank line, then Content-Length bytes of
body), so tests see exactly what the client wrote. `respond` decides each answer: a status,
a full raw response, or an action (hang, a huge lazily streamed body, close).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class RawRequest:
    head: bytes  # request line and header lines, up to and including the blank line
    body: bytes
    index: int  # 0-based, in arrival order

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def method(self) -> str:
        return self.request_line.split(" ")[0]

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]

    @property
    def header_lines(self) -> list[tuple[str, str]]:
        """(name, value) in wire order, exactly as written (value without the ': ')."""
        out = []
        for line in self.head.split(b"\r\n")[1:]:
            if not line:
                continue
            name, _, value = line.decode("latin-1").partition(":")
            out.append((name, value[1:] if value.startswith(" ") else value))
        return out

    def header(self, name: str) -> str | None:
        for k, v in self.header_lines:
            if k.lower() == name.lower():
                return v
        return None


Reply = Union[int, bytes, "Action"]


@dataclass
class Action:
    """Special behaviours: "hang" (never answer), "close" (close without answer),
    "huge" (claim `size` bytes of body, stream `stream` bytes lazily, then wait)."""

    kind: str
    size: int = 0
    stream: int = 0
    status: int = 200


def response(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    hs = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in hs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Receiver:
    respond: Callable[[RawRequest], Reply | Awaitable[Reply]] = lambda r: 200
    requests: list[RawRequest] = field(default_factory=list)
    port: int = 0
    streamed: int = 0  # body bytes written by "huge" answers
    connections: int = 0
    ssl: Any = None  # an ssl.SSLContext makes it an HTTPS receiver
    _server: asyncio.AbstractServer | None = None
    _arrived: asyncio.Condition | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> Receiver:
        self._arrived = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def wait_for(self, n: int, timeout: float = 15.0) -> list[RawRequest]:
        assert self._arrived is not None
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= n)
        return self.requests

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                req = RawRequest(head, body, len(self.requests))
                self.requests.append(req)
                assert self._arrived is not None
                async with self._arrived:
                    self._arrived.notify_all()
                reply = self.respond(req)
                if asyncio.iscoroutine(reply):
                    reply = await reply
                if isinstance(reply, int):
                    reply = response(reply)
                if isinstance(reply, Action):
                    await self._act(reply, writer)
                    return
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _act(self, a: Action, writer: asyncio.StreamWriter) -> None:
        if a.kind == "hang":
            await asyncio.sleep(3600)
        elif a.kind == "huge":
            writer.write(f"HTTP/1.1 {a.status} OK\r\nContent-Length: {a.size}\r\n\r\n".encode())
            chunk = b"x" * 65536
            while self.streamed < a.stream:
                writer.write(chunk)
                self.streamed += len(chunk)
                await writer.drain()  # lazily: only as fast as the client reads
            await asyncio.sleep(3600)
