"""Property-based tests at the decode boundary (hypothesis): whatever bytes arrive, the
pipeline never raises and accounts for every record offered.

The accounting (tykevents/pipeline.py): a record is a line of a datagram, stream chunk or
HTTP body; a blank line (only ASCII whitespace) is no record, except that a line over
max_record_bytes is always one (rejected as oversized). Every record offered ends as exactly
one of: an event (`events`), a quota record (`quota_records`) or a reject (`rejected[reason]`).
So `events + quota_records + sum(rejected) == offered`, and offered is computed here from the
bytes alone.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tykevents.config import Lanes as LaneSettings
from tykevents.decode import MAX_DEPTH, TOO_DEEP, decode, needs_checks, nesting_depth, too_deep
from tykevents.pipeline import Pipeline
from tykevents.route import RouteTable
from tykevents.runtime.metrics import Stats
from tykevents.work import Lanes

from .handlers import Recorder

MAX_RECORD = 4096
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def pipeline() -> tuple[Pipeline, Stats]:
    stats = Stats()
    lanes = Lanes(LaneSettings(log_queue=10, webhook_queue=10, js_queue=10, monitor_queue=10), stats)
    routes = RouteTable(by_api={"": {"TokenCreated": (Recorder(),)}, "a1": {"AuthFailure": (Recorder(),)}})
    p = Pipeline(routes, lanes, stats, MAX_RECORD)
    p.quota_sink = lambda rec: True
    return p, stats


def offered(data: bytes) -> int:
    """Records in one datagram, chunk or body, from its bytes alone."""
    return sum(1 for ln in data.split(b"\n") if len(ln) > MAX_RECORD or ln.strip())


def accounted(stats: Stats) -> int:
    return stats.events + stats.quota_records + sum(stats.rejected.values())


def depth_of(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max(map(depth_of, v), default=0)
    if isinstance(v, dict):
        return 1 + max(map(depth_of, v.values()), default=0)
    return 0


# -- strategies -----------------------------------------------------------------------------

# Text with what trips a hand-written scanner: quotes, backslashes, brackets, non-ASCII.
tricky_text = st.text(alphabet=st.sampled_from('ab"\\[]{}:, \u00e9\u2713\n\t'), max_size=12) | st.text(
    max_size=8
)
finite = st.floats(allow_nan=False, allow_infinity=False)  # json.dumps writes NaN, which is not JSON
leaves = st.none() | st.booleans() | st.integers() | finite | tricky_text
trees = st.recursive(
    leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(tricky_text, kids, max_size=4),
    max_leaves=20,
)


@st.composite
def deep_json(draw: st.DrawFn) -> tuple[bytes, int]:
    """(JSON text, its nesting depth): a small tree wrapped in up to 3,000 levels of arrays
    and objects, often near the limit. Built as text, since Python's own JSON tools recurse."""
    tree = draw(trees)
    text = json.dumps(tree, ensure_ascii=draw(st.booleans())).encode()
    levels = draw(st.integers(0, 3000) | st.integers(MAX_DEPTH - 5, MAX_DEPTH + 5) | st.integers(0, 10))
    kinds = draw(st.sampled_from(["[", "{", "mixed"]))
    opens, closes = [], []
    for i in range(levels):
        if kinds == "[" or (kinds == "mixed" and i % 3):
            opens.append(b"[")
            closes.append(b"]")
        else:
            opens.append(b'{"k' + str(i % 7).encode() + b'":')
            closes.append(b"}")
    return b"".join(opens) + text + b"".join(reversed(closes)), levels + depth_of(tree)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """One line: an event, a quota record, an envelope, a wrong shape, or garbage."""
    kind = draw(st.sampled_from(["event", "quota", "envelope", "json", "bytes", "mangled"]))
    if kind == "event":
        doc: Any = {
            "Type": draw(st.sampled_from(["AuthFailure", "TokenCreated", "Custom", ""])),
            "APIID": draw(st.sampled_from(["a1", "", "nope"])),
            "Meta": None,
        }
    elif kind == "quota":
        doc = {"Kind": draw(st.sampled_from(["quota", "org_quota", "other"])), "Session": None}
    elif kind == "envelope":
        doc = {"message": {"Type": "AuthFailure", "Meta": draw(trees)}, "spec": {"APIID": "a1"}}
    elif kind == "json":
        return draw(deep_json())[0]
    elif kind == "bytes":
        return draw(st.binary(max_size=64)).replace(b"\n", b" ")
    else:  # valid JSON with a few bytes changed
        raw = bytearray(json.dumps({"Type": "AuthFailure", "APIID": "a1", "Meta": draw(trees)}).encode())
        for _ in range(draw(st.integers(1, 3))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw).replace(b"\n", b" ")
    text = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    if b"null" in text:  # Meta or Session: a deep value, spliced in as text
        text = text.replace(b"null", draw(deep_json())[0], 1)
    return text


# -- properties -----------------------------------------------------------------------------


@BOUNDED
@given(st.binary(max_size=2 * MAX_RECORD))
def test_arbitrary_bytes_never_raise_and_are_accounted(data):
    p, stats = pipeline()
    p.feed(data, "tcp")
    assert accounted(stats) == offered(data)


@BOUNDED
@given(st.lists(st.binary(max_size=MAX_RECORD + 100), max_size=20))
def test_arbitrary_datagram_batches_never_raise_and_are_accounted(batch):
    p, stats = pipeline()
    p.feed_datagrams(batch, "udp")
    assert stats.datagrams["udp"] == len(batch)
    assert accounted(stats) == sum(map(offered, batch))


@BOUNDED
@given(st.lists(records(), min_size=1, max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_record_batches_are_accounted_on_every_path(lines, sep):
    body = sep.join(lines) + sep
    p, stats = pipeline()
    p.feed(body, "unix_stream")
    assert accounted(stats) == offered(body)
    q, qstats = pipeline()
    q.feed_datagrams(lines, "unix_dgram")
    assert accounted(qstats) == sum(map(offered, lines))
    assert qstats.rejected == stats.rejected and qstats.events == stats.events


@BOUNDED
@given(st.lists(records(), min_size=1, max_size=12))
def test_a_batch_decodes_as_its_lines_one_by_one(lines):
    """No record's fate depends on its neighbours."""
    got: list[tuple[str, str]] = []
    recs = decode(b"\n".join(lines), lambda reason, detail: got.append((reason, detail)))
    one: list[tuple[str, str]] = []
    alone = [r for ln in lines for r in decode(ln, lambda reason, detail: one.append((reason, detail)))]
    assert recs == alone and [r for r, _ in got] == [r for r, _ in one]


@BOUNDED
@given(deep_json())
def test_too_deep_is_exactly_past_the_limit(meta_depth):
    meta, depth = meta_depth
    data = b'{"Type":"AuthFailure","APIID":"a1","Meta":' + meta + b"}"
    depth += 1  # the record itself
    assert nesting_depth(data, stop=10**9) == depth
    assert too_deep(data) == (depth > MAX_DEPTH)
    if not needs_checks(data):
        assert depth <= MAX_DEPTH  # the cheap bound never lets a deep record through
    got: list[str] = []
    recs = decode(data, lambda reason, detail: got.append(reason))
    if depth > MAX_DEPTH:
        assert recs == [] and got == [TOO_DEEP]
    else:
        assert len(recs) == 1 and got == []
        assert bytes(recs[0].Meta) == meta
