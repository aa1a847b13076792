"""A real HTTP forward proxy on a loopback port, for tests of clients that use one.

It forwards absolute-form requests (`POST http://host:port/path HTTP/1.1`) to their origin,
one request at a time, and tunnels CONNECT. Every request it was asked to carry is recorded
(request line and header lines as received), so a test can tell that, and how, a request
went through it. Responses must carry a Content-Length (tests/webhook/receiver.py's do).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Proxied:
    method: str
    target: str  # absolute URL, or host:port for CONNECT
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class ForwardProxy:
    requests: list[Proxied] = field(default_factory=list)
    # host name -> (host, port) actually dialled: lets a test use names no DNS knows, which
    # clients (Go's ProxyFromEnvironment among them) do not exempt from proxying as loopback
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *rest = head.decode("latin-1").split("\r\n")
                method, target, version = line.split(" ")
                headers = [(k, v.strip()) for k, _, v in (h.partition(":") for h in rest if h)]
                self.requests.append(Proxied(method, target, headers))
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    up_r, up_w = await asyncio.open_connection(*self.hosts.get(host, (host, int(port))))
                    self._writers.add(up_w)
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await writer.drain()
                    await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
                    return
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                body = await reader.readexactly(length)
                u = urlsplit(target)
                if upstream is None:
                    name = u.hostname or ""
                    upstream = await asyncio.open_connection(*self.hosts.get(name, (name, u.port or 80)))
                    self._writers.add(upstream[1])
                origin = (u.path or "/") + (f"?{u.query}" if u.query else "")
                kept = [f"{k}: {v}" for k, v in headers if k.lower() != "proxy-authorization"]
                out = "\r\n".join([f"{method} {origin} {version}", *kept]) + "\r\n\r\n"
                upstream[1].write(out.encode("latin-1") + body)
                await upstream[1].drain()
                rhead = await upstream[0].readuntil(b"\r\n\r\n")
                rlen = 0
                for h in rhead.split(b"\r\n")[1:]:
                    k, _, v = h.partition(b":")
                    if k.strip().lower() == b"content-length":
                        rlen = int(v)
                writer.write(rhead + await upstream[0].readexactly(rlen))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            writer.close()
            if upstream is not None:
                upstream[1].close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while chunk := await src.read(65536):
            dst.write(chunk)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        dst.close()
