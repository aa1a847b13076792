"""Datagram / line-batch decoding: one bad line costs only itself, whatever is wrong with it."""

from __future__ import annotations

import pytest

from tykevents.decode import (
    BAD_UTF8,
    INTERNAL,
    INVALID,
    MALFORMED,
    MAX_DEPTH,
    SHALLOW,
    TOO_DEEP,
    array_lines,
    decode,
    decode_one,
    needs_checks,
    nesting_depth,
    too_deep,
)


class Rejects(list):
    def __call__(self, reason: str, detail: str) -> None:
        self.append((reason, detail))


EV = b'{"Type":"AuthFailure","APIID":"a1","OrgID":"o","TimeStamp":"t","Meta":{"Key":"k","Path":"/"}}'


def test_single_object():
    rej = Rejects()
    [rec] = decode(EV, rej)
    assert (rec.Type, rec.APIID, rec.OrgID, rec.TimeStamp) == ("AuthFailure", "a1", "o", "t")
    assert bytes(rec.Meta) == b'{"Key":"k","Path":"/"}'  # kept raw, byte for byte
    assert rej == []


def test_meta_absent_is_none_and_any_json_value_is_kept():
    [rec] = decode(b'{"Type":"X"}', Rejects())
    assert rec.Meta is None
    [rec] = decode(b'{"Type":"X","Meta":"just a string"}', Rejects())
    assert bytes(rec.Meta) == b'"just a string"'


def test_batch_all_good():
    rej = Rejects()
    recs = decode(EV + b"\n" + EV.replace(b"a1", b"a2") + b"\n", rej)
    assert [r.APIID for r in recs] == ["a1", "a2"] and rej == []


def test_batch_salvages_good_lines():
    rej = Rejects()
    data = b"\n".join(
        [EV, b"{broken", b"", b"  ", b'{"Type": 5}', b"[1,2]", EV.replace(b"a1", b"a3"), b"null"]
    )
    recs = decode(data, rej)
    assert [r.APIID for r in recs] == ["a1", "a3"]
    assert [reason for reason, _ in rej] == [MALFORMED, INVALID, INVALID, INVALID]
    assert all(detail for _, detail in rej)


def test_crlf_lines():
    recs = decode(EV + b"\r\n" + EV + b"\r\n", Rejects())
    assert len(recs) == 2


@pytest.mark.parametrize("data", [b"", b"   ", b"\n", b"\n\n  \n"])
def test_blank_input_is_not_an_error(data):
    rej = Rejects()
    assert decode(data, rej) == [] and rej == []


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"{", MALFORMED),
        (b"\xff\xfe", MALFORMED),
        (b'{"Type":"A"} trailing', MALFORMED),
        (b'"a string"', INVALID),
        (b'{"APIID": 1}', INVALID),
        (b'{"message": "x"}', INVALID),
    ],
)
def test_single_bad_record(data, reason):
    rej = Rejects()
    assert decode(data, rej) == []
    assert [r for r, _ in rej] == [reason]


def test_coprocess_envelope_and_quota_records_decode():
    env = (
        b'{"message":{"Type":"Custom","Meta":{"Message":"m"},"TimeStamp":"t"},'
        b'"spec":{"APIID":"a","OrgID":"o"}}'
    )
    quota = b'{"Kind":"quota","Key":"k","Session":{"quota_max":10}}'
    rej = Rejects()
    e, q = decode(env + b"\n" + quota, rej)
    assert rej == []
    assert e.Type == "" and e.message.Type == "Custom" and bytes(e.message.Meta) == b'{"Message":"m"}'
    assert (e.spec.APIID, e.spec.OrgID) == ("a", "o")
    assert q.Kind == "quota" and q.Key == "k" and bytes(q.Session) == b'{"quota_max":10}'


def test_unknown_fields_are_ignored():
    [rec] = decode(b'{"Type":"A","Extra":{"deep":[1]},"APIID":"x"}', Rejects())
    assert (rec.Type, rec.APIID) == ("A", "x")


# -- failures of one record: depth, UTF-8, types, anything unexpected ---------------------


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """A record whose Meta brings its nesting to `depth` levels (the record object is one)."""
    return b'{"Type":"AuthFailure","APIID":"a1","Meta":' + opener * (depth - 1) + closer * (depth - 1) + b"}"


def nested_objects(depth: int) -> bytes:
    return b'{"Type":"AuthFailure","Meta":' + b'{"k":' * (depth - 1) + b"1" + b"}" * (depth - 1) + b"}"


def test_the_decoders_own_limits_are_what_the_depth_check_guards_against():
    """msgspec recurses on the C stack (RecursionError near the interpreter's limit), orjson
    stops at 1,024 levels: neither is a per-record verdict, so decode() checks first."""
    import orjson

    with pytest.raises(RecursionError):
        decode_one(nested(1100))
    with pytest.raises(orjson.JSONDecodeError, match="depth"):
        orjson.loads(nested(1100))
    orjson.loads(nested(MAX_DEPTH + 1))  # far below both: only our own limit rejects it
    decode_one(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [1, 2, 5, MAX_DEPTH - 1, MAX_DEPTH])
@pytest.mark.parametrize("make", [nested, nested_objects])
def test_nesting_up_to_the_limit_is_accepted(depth, make):
    rej = Rejects()
    data = make(depth) if depth > 1 else b'{"Type":"AuthFailure"}'
    assert nesting_depth(data) == depth and not too_deep(data)
    [rec] = decode(data, rej)
    assert rec.Type == "AuthFailure" and rej == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 1100, 100_000])
@pytest.mark.parametrize("make", [nested, nested_objects])
def test_nesting_past_the_limit_is_rejected_before_decoding(depth, make):
    rej = Rejects()
    assert decode(make(depth), rej) == []
    assert [r for r, _ in rej] == [TOO_DEEP]


def test_unclosed_nesting_is_too_deep_not_a_crash():
    rej = Rejects()
    assert decode(b'{"Type":"A","Meta":' + b"[" * 5000, rej) == []
    assert [r for r, _ in rej] == [TOO_DEEP]


@pytest.mark.parametrize(
    "data, depth",
    [
        (b'{"a":"[[[[{{{{"}', 1),  # brackets in strings do not nest
        (b'{"a":"\\"[[[","b":[1]}', 2),  # nor after an escaped quote
        (b'{"a":"\\\\","b":[[1]]}', 3),  # an escaped backslash ends nothing
        (b'[{"a":[]},{"b":{"c":[1]}}]', 4),
        (b"[]", 1),
        (b"1", 0),
        (b"", 0),
    ],
)
def test_nesting_depth_counts_structure_only(data, depth):
    assert nesting_depth(data) == depth


def test_brackets_in_strings_pass_however_many():
    rej = Rejects()
    data = b'{"Type":"AuthFailure","Meta":{"Message":"' + b"[{" * 5000 + b'"}}'
    [rec] = decode(data, rej)
    assert rej == [] and rec.Type == "AuthFailure"


def test_a_deep_record_costs_only_itself_in_a_batch():
    rej = Rejects()
    data = b"\n".join([EV, nested(1100), EV.replace(b"a1", b"a2"), nested_objects(MAX_DEPTH + 1), EV])
    assert [r.APIID for r in decode(data, rej)] == ["a1", "a2", "a1"]
    assert [r for r, _ in rej] == [TOO_DEEP, TOO_DEEP]


def test_a_record_spread_over_lines_is_not_one_record():
    """One record per line: a value cut by newlines is bad on each line (it cannot nest
    across lines, past the depth check)."""
    rej = Rejects()
    data = b'{"Type":\n"A"}\n' + b'{"k":\n' * 300 + b"1" + b"}" * 300 + b"\n" + EV
    assert [r.APIID for r in decode(data, rej)] == ["a1"]
    assert rej and {r for r, _ in rej} <= {MALFORMED, INVALID}


@pytest.mark.parametrize(
    "data",
    [
        b'{"Type":"A\xff"}',  # in a decoded string: msgspec says so
        b'{"Type":"A","Meta":{"Path":"\xc3\x28"}}',  # in the raw Meta: checked after decoding
        b'{"Type":"A","Extra":"\xed\xa0\x80"}',  # a surrogate, in a skipped field
        b'{"Type":"A","Meta":"' + b"x" * 600 + b'\xff"}',
    ],
)
def test_invalid_utf8_anywhere_is_rejected(data):
    rej = Rejects()
    assert decode(data, rej) == [] and [r for r, _ in rej] == [BAD_UTF8]
    rej = Rejects()
    assert [r.APIID for r in decode(EV + b"\n" + data + b"\n" + EV, rej)] == ["a1", "a1"]
    assert [r for r, _ in rej] == [BAD_UTF8]


def test_valid_utf8_is_kept():
    [rec] = decode('{"Type":"A","Meta":{"Message":"grüße ✓"}}'.encode(), Rejects())
    assert bytes(rec.Meta).decode() == '{"Message":"grüße ✓"}'


@pytest.mark.parametrize(
    "data, reason",
    [
        (b'{"Type":"A","APIID":1e999}', INVALID),  # a number too big for its field
        (b'{"Type":"A","APIID":123456789012345678901234567890}', INVALID),
        (b'{"Type":"A","Meta":NaN}', MALFORMED),
        (b'{"Type":"A","Meta":{"x":Infinity}}', MALFORMED),
        (b"[]", INVALID),
        (b"[1,2]", INVALID),
        (b'"AuthFailure"', INVALID),
        (b"42", INVALID),
        (b"null", INVALID),
        (b"true", INVALID),
        (b'{"Type":["A"]}', INVALID),
        (b'{"Type":"A","TimeStamp":5}', INVALID),
        (b'{"Type":"A","spec":[]}', INVALID),
    ],
)
def test_wrong_types_and_values_are_rejected_alone(data, reason):
    rej = Rejects()
    assert [r.APIID for r in decode(EV + b"\n" + data + b"\n" + EV, rej)] == ["a1", "a1"]
    assert [r for r, _ in rej] == [reason]


def test_an_unexpected_exception_rejects_that_record_only(monkeypatch):
    import tykevents.decode as decode_module

    real = decode_module.decode_one

    def flaky(data):
        if b"boom" in data:
            raise MemoryError("boom")
        return real(data)

    monkeypatch.setattr(decode_module, "decode_one", flaky)
    rej = Rejects()
    data = b"\n".join([EV, b'{"Type":"boom"}', EV])
    assert [r.APIID for r in decode(data, rej)] == ["a1", "a1"]
    assert [r for r, _ in rej] == [INTERNAL] and "MemoryError" in rej[0][1]
    rej = Rejects()
    assert decode(b'{"Type":"boom"}', rej) == [] and [r for r, _ in rej] == [INTERNAL]


def test_the_common_record_skips_the_checks():
    assert not needs_checks(EV)
    assert needs_checks(EV + b" " * SHALLOW)  # long
    assert needs_checks(b'{"Type":"\xc3\xa9"}')  # not ASCII
    assert not needs_checks(b'{"Type":"A","Meta":[1]}')  # short enough with its one `[`
    assert needs_checks(b"[" * (SHALLOW // 4 + 1))


def test_quota_session_decoding_fails_per_record():
    from tykevents.monitor import rule

    deep = b'{"quota_max":10,"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    for raw in (deep, b'{"quota_max":1e400}', b'{"quota_max":"x"}', b"[1]", b"\xff"):
        with pytest.raises(rule.RecordError) as e:
            rule.decode_session(raw)
        assert e.value.reason == rule.BAD_SESSION
    doc: dict = {}
    cur = doc
    for _ in range(5000):
        cur["quota_max"] = cur = {}
    with pytest.raises(rule.RecordError):
        rule.session_from_doc(doc)


def test_array_body_elements_fail_one_by_one():
    """POST /events with a JSON array: orjson parses it whole (1,024 levels) but writes
    only 254; a deeper element is rejected alone, a shallower one is judged as a line is."""
    import orjson

    deep: object = 1
    for _ in range(300):
        deep = {"k": deep}
    items = [orjson.loads(EV), {"Type": "A", "Meta": deep}, orjson.loads(EV), 42]
    rej = Rejects()
    lines = list(array_lines(items, rej))
    assert lines == [orjson.dumps(items[0]), orjson.dumps(items[2]), b"42"]
    assert [r for r, _ in rej] == [TOO_DEEP]
    assert [r.APIID for r in decode(b"\n".join(lines), rej)] == ["a1", "a1"]
    assert [r for r, _ in rej] == [TOO_DEEP, INVALID]
