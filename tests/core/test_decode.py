"""Datagram / line-batch decoding: one bad line costs only itself."""

from __future__ import annotations

import pytest

from tykevents.decode import INVALID, MALFORMED, decode


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
