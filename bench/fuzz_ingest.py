"""Fuzz every ingest transport of the real daemon and check that every record is accounted.

    python bench/fuzz_ingest.py [--records 1000000] [--seed 1]        (make soak-fuzz)

One `tykevents run` process (tests/support/daemon.py) receives `--records` generated records,
split evenly over UDP, Unix datagrams, TCP, Unix streams and HTTP, one transport after the
other: valid events (some nested exactly MAX_DEPTH levels), quota records, coprocess
envelopes, and bad ones (nested up to 3,000 levels, bad UTF-8, wrong types, numbers too big,
NaN, arrays / strings / numbers instead of objects, no Type, unknown Kind, lines over
max_record_bytes, random bytes, valid records with bytes flipped), plus blank lines, CRLF
endings, datagrams holding several records and HTTP bodies that are JSON arrays.

The accounting (tykevents/pipeline.py): a record is a non-blank line, or any line over
max_record_bytes; each one the daemon is offered ends as an event, a quota record or a
reject (`tykevents_rejected_total{reason}`). After each transport the script waits for the
daemon's counters to settle and asserts events + quota records + rejects == records offered,
that each kind of bad record is counted at least as often as it was sent under the reason it
must have, and that the kernel dropped nothing (UDP is paced by the daemon's own datagram
counter). It prints one line per transport; exit status 1 if any check fails. Bounded: every
wait has a timeout and the daemon is stopped at the end.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import random
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.daemon import DaemonProcess, classic_api, log_handler  # noqa: E402
from tykevents.decode import MAX_DEPTH  # noqa: E402

MAX_RECORD = 65536
TRANSPORTS = ("udp", "unix_dgram", "tcp", "unix_stream", "http")
UDP_WINDOW = 1000  # datagrams sent but not yet read by the daemon, at most (a 4 MiB rmem_max holds more)
SETTLE_TIMEOUT = 180.0

# What each kind of generated record must become: "event", "quota", a reject reason, or
# "any" (random bytes: whatever the daemon makes of them, as long as it is one thing).
EXPECT = {
    "event": "event",
    "event_max_depth": "event",
    "envelope": "event",
    "quota": "quota",
    "deep": "too_deep",
    "utf8": "invalid_utf8",
    "types": "invalid_record",
    "shape": "invalid_record",
    "bignum": "invalid_record",
    "nan": "malformed_json",
    "no_type": "missing_type",
    "kind": "unknown_kind",
    "oversized": "oversized",
    "garbage": "any",
    "mangled": "any",
}
WEIGHTS = {
    "event": 560,
    "event_max_depth": 10,
    "envelope": 30,
    "quota": 50,
    "deep": 50,
    "utf8": 40,
    "types": 40,
    "shape": 30,
    "bignum": 20,
    "nan": 20,
    "no_type": 20,
    "kind": 10,
    "garbage": 50,
    "mangled": 60,
    "blank": 10,
    "oversized": 1,  # about 70 KB each
}


class Gen:
    """Records as bytes lines (no newline), each with its kind."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.kinds = list(WEIGHTS)
        self.weights = list(WEIGHTS.values())
        self.n = 0

    def event(self, meta: bytes | None = None, api: str | None = None) -> bytes:
        r = self.rng
        self.n += 1
        api = api or r.choice(["fz-known", "fz-known", "fz-known", "fz-unknown", "fz-logged"])
        typ = r.choice(["AuthFailure", "RatelimitExceeded", "QuotaExceeded", "KeyExpired", "MyCustom"])
        if meta is None:
            meta = json.dumps(
                {"Message": "m", "Path": f"/p/{self.n}", "Origin": "10.0.0.1", "Key": f"k{self.n:08d}"}
            ).encode()
        ts = b"" if r.random() < 0.1 else b',"TimeStamp":"2026-11-24 20:12:27.068982699 +0000 UTC"'
        return b'{"Type":"%s","APIID":"%s","OrgID":"o1","Meta":%s%s}' % (typ.encode(), api.encode(), meta, ts)

    def nest(self, levels: int, inner: bytes = b"1") -> bytes:
        r = self.rng
        style = r.choice("[{m")
        opens, closes = [], []
        for i in range(levels):
            if style == "[" or (style == "m" and r.random() < 0.5):
                opens.append(b"[")
                closes.append(b"]")
            else:
                opens.append(b'{"k%d":' % (i % 10))
                closes.append(b"}")
        return b"".join(opens) + inner + b"".join(reversed(closes))

    def record(self, kinds: tuple[str, ...] | None = None) -> tuple[bytes, str]:
        r = self.rng
        kind = r.choices(self.kinds, self.weights)[0] if kinds is None else r.choice(kinds)
        if kind == "event":
            return self.event(), kind
        if kind == "event_max_depth":  # the record, Meta and MAX_DEPTH - 2 more: exactly the limit
            return self.event(self.nest(MAX_DEPTH - 2, b"{}")), kind
        if kind == "envelope":
            env = {"message": {"Type": "AuthFailure", "Meta": {"Message": "m"}, "TimeStamp": "t"}}
            if r.random() < 0.7:
                env["spec"] = {"APIID": "fz-known", "OrgID": "o1"}
            return json.dumps(env).encode(), kind
        if kind == "quota":
            session = {"quota_max": 1000, "quota_remaining": r.randrange(1000), "quota_renews": 1767225600}
            return json.dumps(
                {"Kind": r.choice(["quota", "org_quota"]), "Key": "k", "Session": session}
            ).encode(), kind
        if kind == "deep":
            levels = r.choice([MAX_DEPTH, MAX_DEPTH + 1, r.randrange(MAX_DEPTH, 3000)])
            where = r.random()
            if where < 0.6:
                return self.event(self.nest(levels)), kind
            if where < 0.8:
                return b'{"Kind":"quota","Key":"k","Session":%s}' % self.nest(levels), kind
            return b'{"Type":"AuthFailure","Extra":%s}' % self.nest(levels), kind
        if kind == "utf8":
            bad = r.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"])
            where = r.random()
            if where < 0.5:
                return self.event(b'{"Path":"/x' + bad + b'"}'), kind
            if where < 0.8:
                return b'{"Type":"Auth' + bad + b'","APIID":"fz-known"}', kind
            return b'{"Type":"AuthFailure","Other":"' + bad + b'"}', kind
        if kind == "types":
            return r.choice(
                [
                    b'{"Type":5}',
                    b'{"Type":"AuthFailure","APIID":["fz-known"]}',
                    b'{"Type":"AuthFailure","TimeStamp":{}}',
                    b'{"Type":"AuthFailure","spec":"s"}',
                    b'{"message":5}',
                    b'{"Type":"AuthFailure","Kind":1}',
                    b'{"Type":null}',
                ]
            ), kind
        if kind == "shape":
            return r.choice([b"[]", b"[1,2]", b'"AuthFailure"', b"12", b"null", b"true", b"-0.5e3"]), kind
        if kind == "bignum":
            return r.choice(
                [
                    b'{"Type":"AuthFailure","APIID":1e999}',
                    b'{"Type":"A","OrgID":123456789012345678901234567890}',
                ]
            ), kind
        if kind == "nan":
            return self.event(r.choice([b"NaN", b'{"x":Infinity}', b"[-Infinity]"])), kind
        if kind == "no_type":
            return r.choice([b'{"Meta":{"x":1}}', b'{"APIID":"fz-known"}', b'{"message":{"Meta":1}}']), kind
        if kind == "kind":
            return b'{"Kind":"nope%d"}' % r.randrange(100), kind
        if kind == "oversized":
            return self.event(b'"' + b"x" * (MAX_RECORD + r.randrange(1, 5000)) + b'"'), kind
        if kind == "garbage":
            data = r.randbytes(r.randrange(1, 200)).replace(b"\n", b"x")
            return (data if data.strip() else b"x"), kind
        if kind == "mangled":
            raw = bytearray(self.event())
            for _ in range(r.randrange(1, 4)):
                raw[r.randrange(len(raw))] = r.randrange(256)
            data = bytes(raw).replace(b"\n", b" ")
            return (data if data.strip() else b"x"), kind
        return r.choice([b"", b"  ", b"\r", b"\t "]), "blank"


def offered(line: bytes) -> int:
    """The pipeline's rule: a line is a record if it is over max_record_bytes or not blank."""
    return 1 if len(line) > MAX_RECORD or line.strip() else 0


class Tally:
    def __init__(self) -> None:
        self.lines = 0
        self.offered = 0
        self.kinds: collections.Counter[str] = collections.Counter()

    def add(self, line: bytes, kind: str) -> bytes:
        self.lines += 1
        self.offered += offered(line)
        self.kinds[kind] += 1
        return line


# -- the daemon's counters ---------------------------------------------------------------------


def counters(d: DaemonProcess) -> dict[str, Any]:
    text = d.metrics()

    def one(name: str) -> int:
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return int(float(m.group(1))) if m else 0

    def labelled(name: str, label: str) -> dict[str, int]:
        rx = rf'^{name}\{{{label}="([^"]+)"\}} (\S+)$'
        return {m.group(1): int(float(m.group(2))) for m in re.finditer(rx, text, re.M)}

    return {
        "events": one("tykevents_events_decoded_total"),
        "quota": one("tykevents_quota_records_total"),
        "rejected": labelled("tykevents_rejected_total", "reason"),
        "datagrams": labelled("tykevents_datagrams_total", "transport"),
        "kernel_drops": one("tykevents_udp_kernel_drops_total"),
    }


def accounted(c: dict[str, Any]) -> int:
    rejects = sum(n for reason, n in c["rejected"].items() if reason != "meta_type")
    return c["events"] + c["quota"] + rejects


def settle(d: DaemonProcess, want: int, base: int) -> dict[str, Any]:
    """Counters once the daemon has accounted `want` more records than `base` (or timed out)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    c = counters(d)
    while accounted(c) - base < want and time.monotonic() < deadline:
        time.sleep(0.2)
        c = counters(d)
    time.sleep(0.5)  # anything counted twice would show now
    return counters(d)


# -- senders -----------------------------------------------------------------------------------


def datagrams(gen: Gen, tally: Tally, n: int, max_size: int) -> Iterator[bytes]:
    """Datagrams holding about n records: mostly one each, some several joined by newlines."""
    while tally.lines < n:
        if gen.rng.random() < 0.1:
            parts = [tally.add(*gen.record(tuple(k for k in EXPECT if k != "oversized")))]
            for _ in range(gen.rng.randrange(1, 5)):
                line, kind = gen.record(
                    ("event", "quota", "deep", "utf8", "types", "shape", "nan", "mangled")
                )
                if sum(map(len, parts)) + len(line) + len(parts) > max_size:
                    break
                parts.append(tally.add(line, kind))
            yield b"\n".join(parts)
        else:
            line, kind = gen.record()
            if len(line) > max_size:  # UDP cannot carry it: a record of the ordinary kind instead
                line, kind = gen.record(("event",))
            yield tally.add(line, kind)


def send_udp(d: DaemonProcess, gen: Gen, tally: Tally, n: int) -> None:
    base = counters(d)["datagrams"].get("udp", 0)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for dg in datagrams(gen, tally, n, 65507):
            s.sendto(dg, ("127.0.0.1", d.udp))
            sent += 1
            if sent % 250 == 0:  # pace on the daemon's own datagram counter: no kernel drops
                deadline = time.monotonic() + 30
                while sent - (counters(d)["datagrams"].get("udp", 0) - base) > UDP_WINDOW:
                    if time.monotonic() > deadline:
                        raise SystemExit("fuzz_ingest: the daemon stopped reading UDP")
                    time.sleep(0.01)


def send_unix_dgram(d: DaemonProcess, gen: Gen, tally: Tally, n: int) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.settimeout(30)  # a blocking send is the daemon's backpressure here
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for dg in datagrams(gen, tally, n, 200_000):
            s.sendto(dg, d.unix_dgram)


def stream_bytes(gen: Gen, tally: Tally, n: int) -> Iterator[bytes]:
    buf: list[bytes] = []
    size = 0
    while tally.lines < n:
        line, kind = gen.record()
        buf.append(tally.add(line, kind) + (b"\r\n" if gen.rng.random() < 0.05 else b"\n"))
        size += len(buf[-1])
        if size > 256 << 10:
            yield b"".join(buf)
            buf, size = [], 0
    yield b"".join(buf)


def send_stream(connect: Callable[[], socket.socket], gen: Gen, tally: Tally, n: int) -> None:
    per_conn = max(1, n // 4)
    while tally.lines < n:
        with connect() as s:
            s.settimeout(60)
            for chunk in stream_bytes(gen, tally, min(n, tally.lines + per_conn)):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):  # the daemon closes once it has read everything
                pass


def send_http(d: DaemonProcess, gen: Gen, tally: Tally, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", d.events_http, timeout=60)
    array_kinds = ("event", "quota", "envelope", "types", "shape", "no_type", "kind")
    try:
        body_no = 0
        while tally.lines < n:
            body_no += 1
            if body_no % 10 == 0:  # a JSON array body: each element is a record
                items: list[Any] = []
                for _ in range(min(300, n - tally.lines)):
                    line, kind = gen.record(array_kinds)
                    items.append(json.loads(tally.add(line, kind)))
                if gen.rng.random() < 0.5:  # too deep, yet shallow enough for orjson to write back
                    levels = gen.rng.randrange(MAX_DEPTH, 250)
                    deep = json.loads(gen.event(gen.nest(levels)))
                    tally.add(b"x", "deep")
                    items.append(deep)
                body = json.dumps(items).encode()
            else:
                # The first line is an event: a body starting with `[` is taken for a JSON array.
                lines = [tally.add(gen.event(), "event")]
                for _ in range(min(499, n - tally.lines)):
                    line, kind = gen.record()
                    lines.append(tally.add(line, kind))
                body = b"\n".join(lines)
            conn.request("POST", "/events", body=body)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 202:
                raise SystemExit(f"fuzz_ingest: POST /events answered {resp.status}: {answer[:200]!r}")
    finally:
        conn.close()


# -- the run -----------------------------------------------------------------------------------


def check(name: str, tally: Tally, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rejects = collections.Counter(after["rejected"])
    rejects.subtract(before["rejected"])
    rejects = +rejects
    events = after["events"] - before["events"]
    quota = after["quota"] - before["quota"]
    got = accounted(after) - accounted(before)
    reasons = " ".join(f"{r}={n}" for r, n in sorted(rejects.items()))
    print(
        f"{name:11} records sent {tally.lines:>8}  offered {tally.offered:>8}  accounted {got:>8}"
        f"  (handled: events {events} + quota {quota}; rejected: {reasons})",
        flush=True,
    )
    problems = []
    if got != tally.offered:
        problems.append(f"{name}: {tally.offered} records offered, {got} accounted")
    must: collections.Counter[str] = collections.Counter()
    for kind, n in tally.kinds.items():
        expect = EXPECT.get(kind)
        if expect not in (None, "any"):
            must[expect] += n
    handled = {"event": events, "quota": quota}
    for outcome, n in must.items():
        seen = handled.get(outcome, rejects.get(outcome, 0))
        if seen < n:
            problems.append(f"{name}: {n} records sent that must be {outcome}, {seen} counted")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000, help="records in all (split over transports)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    per = args.records // len(TRANSPORTS)
    gen = Gen(args.seed)
    apps = {
        "known.json": classic_api("fz-known", {}),
        "logged.json": classic_api("fz-logged", {"AuthFailure": [log_handler("fuzz")]}),
    }
    conf = {"log_level": "warning", "tykevents": {"max_record_bytes": MAX_RECORD, "drain_timeout": 10}}
    problems: list[str] = []
    totals = Tally()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tykevents-fuzz-") as tmp:
        d = DaemonProcess(Path(tmp), conf=conf, apps=apps)
        d.start()
        try:
            print(f"fuzz_ingest: {per} records per transport, seed {args.seed}, daemon pid {d.proc.pid}")  # type: ignore[union-attr]
            for name in TRANSPORTS:
                tally = Tally()
                before = counters(d)
                if name == "udp":
                    send_udp(d, gen, tally, per)
                elif name == "unix_dgram":
                    send_unix_dgram(d, gen, tally, per)
                elif name == "tcp":
                    send_stream(lambda: socket.create_connection(("127.0.0.1", d.tcp)), gen, tally, per)
                elif name == "unix_stream":

                    def unix() -> socket.socket:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.connect(d.unix_stream)
                        return s

                    send_stream(unix, gen, tally, per)
                else:
                    send_http(d, gen, tally, per)
                after = settle(d, tally.offered, accounted(before))
                problems += check(name, tally, before, after)
                totals.lines += tally.lines
                totals.offered += tally.offered
                totals.kinds.update(tally.kinds)
            drops = counters(d)["kernel_drops"]
            if drops:
                problems.append(f"the kernel dropped {drops} UDP datagrams")
            if d.proc is not None and d.proc.poll() is not None:
                problems.append(f"the daemon exited with {d.proc.returncode}")
        finally:
            code = d.stop()
        if code != 0:
            problems.append(f"the daemon stopped with exit status {code}")
        log = d.log()
    kinds = " ".join(f"{k}={n}" for k, n in sorted(totals.kinds.items()))
    took = time.monotonic() - t0
    print(f"{'all':11} records sent {totals.lines:>8}  offered {totals.offered:>8}  in {took:.0f} s")
    print(f"kinds sent: {kinds}")
    tracebacks = log.count("Traceback")
    if tracebacks:
        problems.append(f"{tracebacks} tracebacks in the daemon log")
    for p in problems:
        print("FAIL", p)
    print("every record accounted" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
