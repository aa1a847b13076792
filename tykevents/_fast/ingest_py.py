"""The ingest loop: the pure-Python twin (the specification).

Every record a transport brings goes through the same few steps: split its bytes into lines,
decode each line with msgspec, look its (APIID, Type) up in the route table, and offer the
matching handler calls to their lanes. This loop runs those steps for a whole recvmmsg batch
or stream chunk; what is rare (a record without Type, a matched event, a rejected record)
is handed back to the `sink` (tykevents.pipeline.Pipeline), which owns those rules. _fast sits
below decode and route in the layers, so the decoder and its checks are given, not imported.

    IngestLoop(sink, decode, decode_one, decode_checked, failure, shallow, plain_lookup)
    datagrams(batch, transport) -> None        # one recvmmsg batch, lossy
    chunk(data, transport, lossless=False, count=True) -> parked calls
    parts(head, data, end, transport, lossless=False) -> parked calls   # head + data[:end]

Per line: over sink.max_record bytes -> sink.reject(OVERSIZED); blank -> skipped, not
counted; needing the depth/UTF-8 checks (decode.needs_checks) -> decode_checked; otherwise
decode_one, a failure judged by failure(line, exc). A decoded record counts in `records`;
with a Type it counts in `events` and is looked up: unknown API -> sink.unknown_api, no
handler -> `no_handler`, else sink.dispatch; without a Type, sink.untyped. A bug while
routing one record costs that record only (sink.route_failed). Counters may be added up per
call instead of per record: nothing reads them in between (the loop never yields).
`plain_lookup` is RouteTable.lookup: when the table's lookup is that function, its dicts may
be read directly (same answers, no call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

NL = 10  # b"\n": `int in bytes` is a memchr
OPEN_BRACKET = 91  # b"["

Parked = list[tuple[Any, Any]]
_NOT_PARKED: Parked = []  # never appended to: dispatch parks only when lossless


class Sink(Protocol):
    """What the loop needs of the pipeline (tykevents.pipeline.Pipeline)."""

    stats: Any
    routes: Any
    max_record: int

    def reject(self, reason: str, detail: str) -> None: ...

    def oversized(self, size: int, transport: str) -> None: ...

    def route(self, rec: Any, parked: Parked, lossless: bool) -> None: ...

    def route_failed(self, transport: str) -> None: ...

    # what the compiled twin calls instead of route(), which it inlines
    def untyped(self, rec: Any, parked: Parked, lossless: bool) -> None: ...

    def unknown_api(self, typ: str, api_id: str) -> None: ...

    def dispatch(
        self,
        handlers: Any,
        typ: str,
        meta: Any,
        ts: str,
        api_id: str,
        org: str,
        parked: Parked,
        lossless: bool,
    ) -> None: ...


class IngestLoop:
    def __init__(
        self,
        sink: Sink,
        decode: Callable[[bytes, Callable[[str, str], None]], list[Any]],
        decode_one: Callable[[bytes], Any],
        decode_checked: Callable[[bytes, Callable[[str, str], None]], Any],
        failure: Callable[[bytes, Exception], tuple[str, str] | None],
        shallow: int,
        plain_lookup: object,
    ) -> None:
        self.sink = sink
        self.decode = decode
        self.decode_one = decode_one
        self.decode_checked = decode_checked
        self.failure = failure
        self.shallow = shallow
        self.plain_lookup = plain_lookup  # the compiled twin reads the table's dicts when it sees it

    def chunk(self, data: bytes, transport: str, lossless: bool = False, count: bool = True) -> Parked:
        """Decode and route every line of `data`; returns the calls that did not fit (lossless)."""
        sink = self.sink
        if count:
            stats = sink.stats
            stats.datagrams[transport] += 1
            stats.bytes_in[transport] += len(data)
        if len(data) > sink.max_record:
            data = self._drop_oversized(data, transport)
        parked: Parked = []
        route = sink.route
        for rec in self.decode(data, sink.reject):
            try:
                route(rec, parked, lossless)
            except Exception:
                sink.route_failed(transport)
        return parked

    def parts(self, head: bytes, data: bytes, end: int, transport: str, lossless: bool = False) -> Parked:
        """chunk(head + data[:end]), counted as one chunk: a stream read that completes a line
        an earlier one began (`head`, which holds no newline). The compiled twin reads data
        in place instead of copying it."""
        if end < 0 or end > len(data):
            raise ValueError("end must be within data")
        return self.chunk(head + data[:end], transport, lossless)

    def datagrams(self, batch: list[bytes], transport: str) -> None:
        """One recvmmsg batch. Most datagrams hold one short ASCII record: decoded at once."""
        sink = self.sink
        stats = sink.stats
        stats.datagrams[transport] += len(batch)
        stats.bytes_in[transport] += sum(map(len, batch))
        max_record = sink.max_record
        shallow = self.shallow
        decode_one = self.decode_one
        route = sink.route
        for data in batch:
            n = len(data)
            if NL in data or n > max_record:
                self.chunk(data, transport, count=False)
                continue
            # decode.needs_checks, inlined
            if OPEN_BRACKET in data:
                n += 3 * data.count(b"[")
            if n > shallow or not data.isascii():
                checked = self.decode_checked(data, sink.reject)
                if checked is None:
                    continue
                rec = checked
            else:
                try:
                    rec = decode_one(data)
                except Exception as e:
                    why = self.failure(data, e)
                    if why is not None:
                        sink.reject(*why)
                    continue
            try:
                route(rec, _NOT_PARKED, False)
            except Exception:
                sink.route_failed(transport)

    def _drop_oversized(self, data: bytes, transport: str) -> bytes:
        """Reject each line over max_record; keep the others (rare, so not fast)."""
        keep = []
        limit = self.sink.max_record
        for line in data.split(b"\n"):
            if len(line) > limit:
                self.sink.oversized(len(line), transport)
            else:
                keep.append(line)
        return b"\n".join(keep)
