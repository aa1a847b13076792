"""Bad records against the real daemon: each costs only itself, on every transport.

One record nested 1,100 levels deep (2 KB) used to raise out of the decoder: the rest of the
recvmmsg batch (other senders' datagrams included) or the whole TCP connection was lost,
nothing was counted, and HTTP answered 500. Now every failure while decoding one record
(depth, size, types, encoding, anything unexpected) rejects that record under its reason
(`tykevents_rejected_total{reason}`, docs/protocol.md) and its neighbours are handled: each
good record here carries its own Path, and the API's log handler writes one line per event.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import socket
import time
from typing import Any

import pytest

from tests.support.daemon import ROOT, DaemonProcess, classic_api, event, log_handler

pytestmark = pytest.mark.e2e

APPS = {"a1.json": classic_api("a1", {"AuthFailure": [log_handler("fault")]})}
KEY_META = {"Message": "Auth Failure", "Origin": "127.0.0.1", "Key": "abcdefgh1234"}

DEEP = b'{"Type":"AuthFailure","APIID":"a1","Meta":' + b"[" * 1100 + b"]" * 1100 + b"}"
# Each bad record with the reason it is counted under.
BAD: list[tuple[bytes, str]] = [
    (DEEP, "too_deep"),  # the record of the issue: RecursionError in the decoder before
    (b'{"Type":"AuthFailure","APIID":"a1","Meta":' + b'{"k":' * 199 + b"1" + b"}" * 199 + b"}", "too_deep"),
    (b'{"Type":"AuthFailure","APIID":"a1","Meta":{"Path":"/\xff\xfe"}}', "invalid_utf8"),
    (b'{"Type":"AuthFailure\xc3\x28","APIID":"a1"}', "invalid_utf8"),
    (b'{"Type":"AuthFailure","APIID":["a1"]}', "invalid_record"),  # a wrong type
    (b'{"Type":"AuthFailure","APIID":"a1","TimeStamp":1e999}', "invalid_record"),  # a number too big
    (b'{"Type":"AuthFailure","APIID":"a1","Meta":NaN}', "malformed_json"),
    (b'[{"Type":"AuthFailure","APIID":"a1"}]', "invalid_record"),  # an array, not an object
    (b'"AuthFailure"', "invalid_record"),  # a string
    (b"42", "invalid_record"),  # a number
    (b'{"Type":"AuthFailure",', "malformed_json"),
]
HUGE = (b'{"Type":"AuthFailure","APIID":"a1","Meta":"' + b"x" * (10 << 20) + b'"}', "oversized")  # 10 MiB


def good(tag: str, i: int) -> bytes:
    return json.dumps(event("AuthFailure", "a1", {**KEY_META, "Path": f"/{tag}-{i}"})).encode()


def interleave(tag: str, bad: list[tuple[bytes, str]]) -> tuple[list[bytes], set[str], collections.Counter]:
    """good, bad, good, bad, ..., good: the records, the Paths to be logged, the rejects due."""
    records = [good(tag, 0)]
    for i, (rec, _) in enumerate(bad, 1):
        records += [rec, good(tag, i)]
    return records, {f"/{tag}-{i}" for i in range(len(bad) + 1)}, collections.Counter(r for _, r in bad)


def rejected(d: DaemonProcess) -> collections.Counter:
    return collections.Counter(
        {
            m.group(1): int(float(m.group(2)))
            for m in re.finditer(r'^tykevents_rejected_total\{reason="([^"]+)"\} (\S+)$', d.metrics(), re.M)
        }
    )


def handled_paths(d: DaemonProcess, tag: str, count: int) -> set[str]:
    lines = d.wait_log(rf"fault:AuthFailure:\*\*\*\*1234:127\.0\.0\.1:/{tag}-\d+\b", count=count)
    return {re.search(rf"/{tag}-\d+", ln).group(0) for ln in lines}  # type: ignore[union-attr]


def wait_rejects(d: DaemonProcess, before: collections.Counter, want: collections.Counter) -> None:
    d.wait_until(lambda: rejected(d) - before == want, 10, f"rejects {dict(want)}")


def still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) != b""  # data from the daemon: unexpected, but not closed
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


@pytest.mark.parametrize("transport", ["udp", "unix_dgram"])
def test_bad_datagrams_in_one_recvmmsg_burst_cost_only_themselves(run_daemon, transport):
    """The daemon is stopped while the burst is queued, so that one recvmmsg call reads it
    whole: the deep record sits among other datagrams of the same batch."""
    d = run_daemon(apps=APPS)
    # A Unix datagram queue holds 10 datagrams by default (net.unix.max_dgram_qlen): the
    # sender would block on the stopped daemon past that.
    bad = BAD if transport == "udp" else BAD[:1] + BAD[2:6]
    records, paths, want = interleave(transport, bad)
    before = rejected(d)
    family, addr = (
        (socket.AF_INET, ("127.0.0.1", d.udp)) if transport == "udp" else (socket.AF_UNIX, d.unix_dgram)
    )
    d.signal(signal.SIGSTOP)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for rec in records:
                s.sendto(rec, addr)
    finally:
        d.signal(signal.SIGCONT)
    assert handled_paths(d, transport, len(paths)) == paths
    wait_rejects(d, before, want)
    assert d.stats_value("udp_kernel_drops") == 0


@pytest.mark.parametrize("transport", ["tcp", "unix_stream"])
def test_bad_lines_cost_only_themselves_and_the_connection_stays_open(run_daemon, transport):
    d = run_daemon(apps=APPS)
    records, paths, want = interleave(transport, [*BAD, HUGE])
    before = rejected(d)
    if transport == "tcp":
        s = socket.create_connection(("127.0.0.1", d.tcp), timeout=30)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(d.unix_stream)
    with s:
        s.sendall(b"".join(r + b"\n" for r in records))
        assert handled_paths(d, transport, len(paths)) == paths
        wait_rejects(d, before, want)
        # The same connection goes on: more records, handled too.
        s.sendall(good(transport, 100) + b"\n" + DEEP + b"\n" + good(transport, 101) + b"\n")
        assert handled_paths(d, transport, len(paths) + 2) >= {f"/{transport}-100", f"/{transport}-101"}
        want["too_deep"] += 1
        wait_rejects(d, before, want)
        assert still_open(s)


def test_bad_records_in_an_http_batch_cost_only_themselves(run_daemon):
    d = run_daemon(apps=APPS)
    records, paths, want = interleave("http", [*BAD, HUGE])
    before = rejected(d)
    status, answer = d.post_http(b"\n".join(records))
    assert (status, answer) == (202, {"records": len(paths), "rejected": len(BAD) + 1})
    assert handled_paths(d, "http", len(paths)) == paths
    wait_rejects(d, before, want)


def test_an_http_batch_whose_first_record_is_an_array_costs_only_that_record(run_daemon):
    d = run_daemon(apps=APPS)
    status, answer = d.post_http(b"[1,2]\n" + good("first", 0) + b"\n")
    assert (status, answer) == (202, {"records": 1, "rejected": 1})


def nest_objects(levels: int) -> Any:
    v: Any = 1
    for _ in range(levels):
        v = {"k": v}
    return v


@pytest.mark.parametrize(
    "levels",
    [
        200,  # re-framed as a line by orjson, rejected by the pipeline
        300,  # deeper than orjson writes (254): tykevents.decode.array_lines rejects it
    ],
)
def test_a_too_deep_element_of_an_http_json_array_costs_only_itself(run_daemon, levels):
    """Array bodies are parsed whole by orjson (its own limit: 1,024 levels), then each element
    goes through the same per-record decoding as a line."""
    d = run_daemon(apps=APPS)
    items = [
        json.loads(good("arr", 0)),
        event("AuthFailure", "a1", nest_objects(levels)),
        json.loads(good("arr", 1)),
        42,
    ]
    before = rejected(d)
    status, answer = d.post_http(json.dumps(items).encode())
    assert (status, answer) == (202, {"records": 2, "rejected": 2})
    assert handled_paths(d, "arr", 2) == {"/arr-0", "/arr-1"}
    wait_rejects(d, before, collections.Counter({"too_deep": 1, "invalid_record": 1}))


def test_quota_records_fail_one_by_one(run_daemon):
    """The quota path: a Session too deep is rejected by the pipeline, one the monitor cannot
    decode by the monitor (bad_session); the records around them are evaluated."""
    monitor = {
        "enable_trigger_monitors": True,
        "global_trigger_limit": 80,
        "monitor_user_keys": True,
        "configuration": {
            "method": "POST",
            "target_path": "http://127.0.0.1:9/never",  # nothing fires: no usage
            "template_path": str(ROOT / "templates" / "monitor_template.json"),
        },
    }
    d = run_daemon(apps=APPS, conf={"monitor": monitor})
    renews = int(time.time()) + 3600

    def quota(key: str, session: bytes) -> bytes:
        return b'{"Kind":"quota","Key":"%s","Session":%s}' % (key.encode(), session)

    ok = {"org_id": "org1", "quota_max": 1000, "quota_remaining": 1000, "quota_renews": renews}
    lines = [
        quota("k0", json.dumps(ok).encode()),
        quota("k1", b'{"quota_max":10,"x":' + b"[" * 1100 + b"]" * 1100 + b"}"),  # too deep
        quota("k2", json.dumps(ok).encode()),
        quota("k3", json.dumps({**ok, "quota_max": 1e300}).encode()),  # not an int64
        quota("k4", b'{"quota_max":1e400}'),  # out of range
        quota("k5", json.dumps(ok).encode()),
    ]
    before = rejected(d)
    d.send_tcp([], raw=b"\n".join(lines) + b"\n")
    d.wait_until(
        lambda: d.metric("tykevents_monitor_records_total", kind="quota") >= 5, 10, "5 quota records"
    )
    wait_rejects(d, before, collections.Counter({"too_deep": 1}))
    assert d.metric("tykevents_monitor_rejected_total", reason="bad_session") == 2
    assert d.metric("tykevents_monitor_records_total", kind="quota") == 5
