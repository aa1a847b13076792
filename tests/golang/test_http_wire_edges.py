"""GoClient's own HTTP/1.1 transport against scripted loopback servers: what a reply can look
like on the wire (chunked, close-delimited, split into single bytes, 1xx first, HEAD, 204),
servers that close kept-alive connections, oversized headers, partial writes of a large body,
the limits on connections in use, and idle expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tykevents.golang import url as gourl
from tykevents.golang.http import client as gc
from tykevents.golang.http import transport as gt
from tykevents.golang.http.client import GoClient, GoClientError
from tykevents.golang.http.request import GoRequest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Scripted:
    """A TCP server whose connections run `handler`; counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request's head and body (by its Content-Length)."""
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":", 1)[1])
        return head + (await reader.readexactly(n) if n else b"")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Scripted]]]:
    made: list[Scripted] = []

    async def make(handler: Handler) -> Scripted:
        s = await Scripted(handler).start()
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


def req(url: str, method: str = "GET") -> GoRequest:
    return GoRequest(method, gourl.new_request_url(url), {}, raw_url=url)


def replying(*replies: bytes, close_after: bool = False) -> Callable[[Scripted], Handler]:
    """A handler answering each request on a connection with the next of `replies` (the last
    one repeats); `close_after`: close the connection after each reply."""

    def bind(s: Scripted) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            i = 0
            while True:
                await s.read_request(reader)
                writer.write(replies[min(i, len(replies) - 1)])
                await writer.drain()
                i += 1
                if close_after:
                    return

        return handler

    return bind


async def scripted(serve: Any, bind: Callable[[Scripted], Handler]) -> Scripted:
    holder: list[Scripted] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await bind(holder[0])(reader, writer)

    s = await serve(handler)
    holder.append(s)
    return s


async def test_chunked_reply_keeps_the_connection(serve: Any, client: Any) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    s = await scripted(serve, replying(chunked))
    c = await client()
    for _ in range(3):
        resp = await c.do(req(s.url()))
        assert (resp.status, resp.body) == (200, b"hello world")
        assert "Transfer-Encoding" not in resp.header
    assert s.connections == 1


async def test_close_delimited_reply_ends_at_eof(serve: Any, client: Any) -> None:
    s = await scripted(
        serve, replying(b"HTTP/1.1 200 OK\r\n\r\nall of it, until the close", close_after=True)
    )
    c = await client()
    for _ in range(2):
        assert (await c.do(req(s.url()))).body == b"all of it, until the close"
    assert s.connections == 2 and c.idle() == {}  # never pooled: its end was the close


async def test_a_reply_in_single_bytes(serve: Any, client: Any) -> None:
    reply = b"HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 4\r\n\r\nbody"

    def bind(s: Scripted) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await s.read_request(reader)
                for i in range(len(reply)):
                    writer.write(reply[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(0)

        return handler

    s = await scripted(serve, bind)
    c = await client()
    for _ in range(2):
        resp = await c.do(req(s.url()))
        assert (resp.status, resp.header["X-A"], resp.body) == (201, ["1"], b"body")
    assert s.connections == 1


async def test_informational_replies_are_skipped(serve: Any, client: Any) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    reply += b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    s = await scripted(serve, replying(reply))
    resp = await (await client()).do(req(s.url()))
    assert (resp.status, resp.body, list(resp.header)) == (200, b"ok", ["Content-Length"])


async def test_head_and_204_have_no_body_and_keep_the_connection(serve: Any, client: Any) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"  # HEAD: the length of a GET's body
    s = await scripted(
        serve,
        replying(head, b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
    )
    c = await client()
    assert (await c.do(req(s.url(), "HEAD"))).body == b""
    assert (await c.do(req(s.url(), "DELETE"))).status == 204
    assert (await c.do(req(s.url()))).body == b"x"
    assert s.connections == 1


async def test_a_server_that_closes_a_kept_alive_connection(serve: Any, client: Any) -> None:
    """The server answers with keep-alive, then closes the idle connection: the next request
    goes on a new connection, and nothing fails."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    s = await scripted(serve, replying(ok, close_after=True))
    c = await client()
    for _ in range(3):
        assert (await c.do(req(s.url(), "POST"), b"{}")).status == 200
        await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
    assert s.connections == 3


async def test_a_reused_connection_closed_before_the_reply(serve: Any, client: Any) -> None:
    """The server reads the second request on a connection and closes without a word: a GET is
    sent again on a new connection (Go's Request.isReplayable), a POST fails with EOF."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def bind(s: Scripted) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await s.read_request(reader)
            writer.write(ok)
            await writer.drain()
            await s.read_request(reader)  # and close without answering

        return handler

    s = await scripted(serve, bind)
    c = await client()
    assert (await c.do(req(s.url()))).status == 200
    assert (await c.do(req(s.url()))).status == 200  # replayed on a second connection
    assert s.connections == 2
    e = await fails(c, req(s.url(), "POST"), b"{}")
    assert e.kind == gc.CONNECTION and "EOF" in e.err


async def fails(c: GoClient, r: GoRequest, body: bytes = b"") -> GoClientError:
    with pytest.raises(GoClientError) as info:
        await c.do(r, body)
    return info.value


async def test_oversized_headers_fail_and_cost_only_their_connection(
    serve: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gt, "MAX_HEADER_BYTES", 4096)
    monkeypatch.setattr(
        gt, "_TOO_MANY_HEADER_BYTES", "net/http: server response headers exceeded 4096 bytes; aborted"
    )
    big = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(100)) + b"\r\n"
    s = await scripted(serve, replying(big))
    ok = await scripted(serve, replying(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    c = await client()
    e = await fails(c, req(s.url("/a")))
    assert e.kind == gc.CONNECTION
    assert str(e) == f'Get "{s.url("/a")}": net/http: server response headers exceeded 4096 bytes; aborted'
    assert (await c.do(req(ok.url()))).status == 200


async def test_malformed_reply(serve: Any, client: Any) -> None:
    s = await scripted(serve, replying(b"HTTP/1.1 2x0 OK\r\n\r\n"))
    e = await fails(await client(), req(s.url()))
    assert e.kind == gc.CONNECTION and e.err.startswith("malformed HTTP response")


async def test_a_large_body_written_in_parts_to_a_slow_reader(serve: Any, client: Any) -> None:
    """8 MiB against a server reading 64 KiB at a time, slowly: the transport's buffer drains
    in parts and every byte arrives in order."""
    body = bytes(range(256)) * (8 << 12)
    got = bytearray()

    def bind(s: Scripted) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            n = int(
                next(ln for ln in head.split(b"\r\n") if ln.startswith(b"Content-Length:")).split(b":")[1]
            )
            while len(got) < n:
                got.extend(await reader.read(min(65536, n - len(got))))
                await asyncio.sleep(0.001)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

        return handler

    s = await scripted(serve, bind)
    assert (await (await client()).do(req(s.url(), "POST"), body)).status == 200
    assert bytes(got) == body


async def test_connections_in_use_per_host_are_capped_and_queued_in_order(serve: Any, client: Any) -> None:
    active = 0
    peak = 0
    order: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active, peak
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            order.append(head.split(b" ")[1])
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    s = await serve(handler)
    c = await client(max_per_host=2)
    calls = [asyncio.ensure_future(c.do(req(s.url(f"/{i}")))) for i in range(8)]
    await asyncio.gather(*calls)
    assert peak == 2 and s.connections == 2
    assert order[2:] == [f"/{i}".encode() for i in range(2, 8)]  # the queue is first come, first served


async def test_a_cancelled_call_gives_its_slot_and_its_connection_up(serve: Any, client: Any) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    s = await serve(handler)
    c = await client(max_per_host=1)
    first = asyncio.ensure_future(c.do(req(s.url("/1"))))
    queued = asyncio.ensure_future(c.do(req(s.url("/2"))))
    await asyncio.sleep(0.1)
    first.cancel()
    queued.cancel()
    await asyncio.gather(first, queued, return_exceptions=True)
    release.set()
    assert (await c.do(req(s.url("/3")))).status == 200  # the slot came back
    assert s.connections == 2  # the cancelled exchange's connection was not reused
    assert c.transport is not None and c.transport._active_count == 0


async def test_idle_connections_expire(serve: Any, client: Any) -> None:
    s = await scripted(serve, replying(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    c = await client(keepalive_timeout=0.1)
    await c.do(req(s.url()))
    await asyncio.sleep(0.2)
    await c.do(req(s.url()))
    assert s.connections == 2


async def test_bytes_after_a_complete_reply_end_the_connection(serve: Any, client: Any) -> None:
    """A reply followed by a second one nobody asked for: the first is the answer, untouched,
    and the connection is not used again."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: 1\r\n\r\na"
    extra = b"HTTP/1.1 500 Oops\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n"
    s = await scripted(serve, replying(ok + extra))
    c = await client()
    first = await c.do(req(s.url()))
    assert (first.status, first.body, sorted(first.header)) == (200, b"a", ["Content-Length", "X-A"])
    assert (await c.do(req(s.url()))).status == 200
    assert s.connections == 2
