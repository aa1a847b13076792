"""The monitor's pure decisions (tykevents.monitor.rule) on both evaluator twins.

Tyk's acceptance cases, every row (the table in docs/monitor.md, "Differences from Tyk"), with
tykevents' rule where it differs from Tyk's; each difference is named in a `DIFF` comment and
in that table.
"""

from __future__ import annotations

import hashlib
import time

import orjson
import pytest

from tykevents.monitor import rule as m

from .conftest import HOUR, session

NOW = float(int(time.time()))
RENEWS = int(NOW) + HOUR


def state_of(doc, kind=m.KEY, ident="key1", org_hint=""):
    return m.quota_state(kind, ident, org_hint, m.decode_session(orjson.dumps(doc)))


def fire(table, doc, g=0.0, now=NOW, kind=m.KEY, ident="key1"):
    f = m.evaluate(state_of(doc, kind, ident), table, now, g)
    return None if f is None else (f.level, f.usage)


# -- Tyk's acceptance cases (docs/monitor.md#differences-from-tyk) ---------------------------

SPEC_7_6 = [
    # (G, trigger_limits, remaining, expected (limit, usage)); quota_max 10, renews now + 1 h
    (80, [], 2, (80, 80)),
    (80, [], 3, None),
    (0, [60], 3, (60, 70)),
    # DIFF highest-first: Tyk fires the first match in list order, Fire(50, 90).
    (0, [50, 80], 1, (80, 90)),
    (0, [80, 50], 1, (80, 90)),
    (80, [80], 1, (80, 90)),  # the global rule; the session's 80 is the same level
    (95, [80, 95], 0, (95, 100)),
    (95, [80, 95], 2, (80, 80)),
    (0, [], 0, None),  # no levels at all
]


@pytest.mark.parametrize("g, limits, remaining, want", SPEC_7_6)
def test_spec_7_6_rows(table_cls, g, limits, remaining, want) -> None:
    assert fire(table_cls(), session(remaining, renews=RENEWS, limits=limits), g) == want


def test_spec_7_6_renewal_in_the_past(table_cls) -> None:
    t = table_cls()
    # A renewing quota whose renewal time passed is stale, as in Tyk.
    assert fire(t, session(0, renews=int(NOW) - 1), 80) is None
    # DIFF non-renewing (K9, docs/compatibility.md): Tyk never fires when quota_renewal_rate <= 0
    # (its quota_renews is about "now"); tykevents monitors such quotas.
    assert fire(t, session(0, renews=int(NOW) - 1, rate=0), 80) == (80, 100)


@pytest.mark.parametrize("qmax", [-1, 0])
def test_spec_7_6_root_unlimited_then_access_rights(table_cls, qmax) -> None:
    t = table_cls()
    doc = session(0, qmax=qmax, renews=RENEWS)
    st = state_of(doc)
    assert st.quotas == () and fire(t, doc, 80) is None  # never fires: counted as no_quota
    # The access-rights row: root quota_max 0, a1.limit {100, 20, now + 1 h} -> Fire(75, 80).
    doc = session(
        0,
        qmax=qmax,
        renews=RENEWS,
        limits=[75],
        access_rights={
            "a1": {
                "limit": {
                    "quota_max": 100,
                    "quota_remaining": 20,
                    "quota_renews": RENEWS,
                    "quota_renewal_rate": HOUR,
                }
            }
        },
    )
    assert fire(t, doc) == (75, 80)


def test_spec_7_6_truncation_row(table_cls) -> None:
    limit, usage = fire(table_cls(), session(2, qmax=3, renews=RENEWS, limits=[33.3]))
    assert (limit, usage) == (33.3, 1.0 / 3.0 * 100.0)
    meta = orjson.loads(m.trigger_meta("org1", "key1", limit, usage))
    assert (meta["trigger_limit"], meta["usage_percentage"]) == (33, 33)


def test_spec_7_6_remaining_above_max_is_rejected() -> None:
    # DIFF: Tyk computes usage -50 % and fires nothing; tykevents fires nothing too and counts
    # the record as rejected (remaining_above_max), since such a session is corrupt.
    with pytest.raises(m.RecordError) as e:
        state_of(session(15, renews=RENEWS))
    assert e.value.reason == m.REMAINING_ABOVE_MAX


# -- tykevents' rule: once per level per period -----------------------------------------------


def test_each_level_fires_once_then_a_new_period_rearms(table_cls) -> None:
    t = table_cls()
    got = [fire(t, session(rem, renews=RENEWS, limits=[50, 80])) for rem in (9, 5, 5, 4, 2, 1, 0)]
    assert got == [None, (50, 50), None, None, (80, 80), None, None]
    nxt = RENEWS + HOUR
    later = NOW + HOUR + 1
    got = [fire(t, session(rem, renews=nxt, limits=[50, 80]), now=later) for rem in (9, 5, 1)]
    assert got == [None, (50, 50), (80, 90)]


def test_highest_crossed_first_lower_passed(table_cls) -> None:
    t = table_cls()
    assert fire(t, session(1, renews=RENEWS, limits=[50, 80, 60]), g=70) == (80, 90)
    for rem in (4, 3, 2, 1, 0):  # 50, 60 and the global 70 were passed with 80
        assert fire(t, session(rem, renews=RENEWS, limits=[50, 80, 60]), g=70) is None
    assert fire(t, session(0, renews=RENEWS, limits=[50, 80, 60, 100]), g=70) == (100, 100)


def test_non_renewing_quota_fires_once_and_rearms_after_a_reset(table_cls) -> None:
    t = table_cls()
    doc = lambda rem: session(rem, rate=0, renews=0, limits=[50, 80])  # noqa: E731
    assert [fire(t, doc(r)) for r in (6, 5, 5, 2, 0)] == [None, (50, 50), None, (80, 80), None]
    assert fire(t, doc(10)) is None  # an admin reset the quota
    assert fire(t, doc(5)) == (50, 50)


def test_org_and_key_quotas_are_separate_states(table_cls) -> None:
    t = table_cls()
    org_doc = session(2, renews=RENEWS, org="org1")
    st = state_of(org_doc, kind=m.ORG, ident="org1")
    assert (st.kind, st.key, st.org_id) == (m.ORG, "", "org1")  # Tyk checks orgs with key ""
    assert fire(t, org_doc, 80, kind=m.ORG, ident="org1") == (80, 80)
    assert fire(t, org_doc, 80, kind=m.KEY, ident="org1") == (80, 80)  # a key named like the org
    assert fire(t, org_doc, 80, kind=m.ORG, ident="org1") is None


def test_access_rights_in_api_id_order_one_fire_per_record(table_cls) -> None:
    t = table_cls()

    def limit(rem: int) -> dict[str, object]:
        return {
            "limit": {
                "quota_max": 10,
                "quota_remaining": rem,
                "quota_renews": RENEWS,
                "quota_renewal_rate": HOUR,
            }
        }

    doc = session(
        5,
        renews=RENEWS,
        limits=[50, 80],
        access_rights={"b-api": limit(1), "a-api": limit(4), "c": {"limit": None}, "d": None},
    )
    st = state_of(doc)
    assert [q.api_id for q in st.quotas] == ["", "a-api", "b-api"]  # own quota, then sorted
    assert len({q.state_key for q in st.quotas}) == 3
    f = m.evaluate(st, t, NOW, 0.0)
    assert (f.quota.api_id, f.level) == ("", 50)  # the own quota first; one fire per record
    f = m.evaluate(st, t, NOW, 0.0)
    assert (f.quota.api_id, f.level) == ("a-api", 50)
    f = m.evaluate(st, t, NOW, 0.0)
    assert (f.quota.api_id, f.level) == ("b-api", 80)
    assert m.evaluate(st, t, NOW, 0.0) is None


def test_empty_access_rights_limits_are_skipped() -> None:
    empty = {
        "rate": 0,
        "per": 0,
        "quota_max": 0,
        "quota_remaining": 0,
        "quota_renews": 0,
        "quota_renewal_rate": 0,
    }
    st = state_of(
        session(9, access_rights={"a": {"limit": empty}, "b": {"limit": {**empty, "quota_max": -1}}})
    )
    assert [q.api_id for q in st.quotas] == [""]


def test_integral_floats_are_counts() -> None:
    doc = session(2, renews=RENEWS)
    doc.update(quota_max=10.0, quota_remaining=2.0, quota_renews=float(RENEWS))
    q = state_of(doc).quotas[0]
    assert (q.quota_max, q.remaining, q.renews) == (10, 2, RENEWS)
    assert all(type(x) is int for x in (q.quota_max, q.remaining, q.renews))


def test_trigger_limits_outside_0_100_are_not_levels(table_cls) -> None:
    st = state_of(session(0, renews=RENEWS, limits=[150, 80, -5, 0, 100]))
    assert st.limits == (80, 100) and st.ignored_limits == (150, -5, 0)
    assert m.evaluate(st, table_cls(), NOW, 0.0).level == 100


# -- bad input: a counted rejection, never a fire ------------------------------------------------

BAD = [
    (b'"not an object"', m.BAD_SESSION),
    (b"[]", m.BAD_SESSION),
    (b'{"quota_max": "10", "quota_remaining": 2}', m.BAD_SESSION),
    (b'{"quota_max": 10, "quota_remaining": true}', m.BAD_SESSION),
    (b'{"quota_max": 10.5, "quota_remaining": 2}', m.BAD_SESSION),
    (b'{"quota_max": 1e300, "quota_remaining": 2}', m.BAD_SESSION),
    (b'{"quota_max": 99999999999999999999, "quota_remaining": 2}', m.BAD_SESSION),
    (b'{"quota_max": 10, "quota_remaining": 2, "access_rights": []}', m.BAD_SESSION),
    (b'{"quota_max": 10, "quota_remaining": 2, "org_id": 5}', m.BAD_SESSION),
    (b'{"quota_max": 10, "quota_remaining": 2, "monitor": {"trigger_limits": ["80"]}}', m.BAD_TRIGGER_LIMITS),
    (b'{"quota_max": 10, "quota_remaining": 2, "monitor": {"trigger_limits": [null]}}', m.BAD_TRIGGER_LIMITS),
    (b'{"quota_max": 10, "quota_remaining": 2, "monitor": {"trigger_limits": 80}}', m.BAD_TRIGGER_LIMITS),
    (b"{}", m.MISSING_QUOTA),
    (b'{"org_id": "o", "quota_remaining": 2}', m.MISSING_QUOTA),
    (b'{"quota_max": 10}', m.MISSING_QUOTA),
    (b'{"quota_max": 10, "quota_remaining": 2, "quota_renewal_rate": 60}', m.MISSING_QUOTA),
    (b'{"quota_max": 10, "quota_remaining": -1}', m.NEGATIVE_QUOTA),
    (b'{"quota_max": -2, "quota_remaining": 0}', m.NEGATIVE_QUOTA),
    (b'{"quota_max": 10, "quota_remaining": 2, "quota_renews": -5}', m.NEGATIVE_QUOTA),
    (b'{"quota_max": 10, "quota_remaining": 11}', m.REMAINING_ABOVE_MAX),
    (
        b'{"quota_max": -1, "access_rights": {"a": {"limit": {"quota_max": 5, "quota_remaining": 9}}}}',
        m.REMAINING_ABOVE_MAX,
    ),
    (b'{"access_rights": {"a": {"limit": {"quota_max": 5}}}}', m.MISSING_QUOTA),
]


@pytest.mark.parametrize("raw, reason", BAD)
def test_bad_sessions_are_rejected_with_a_reason(raw, reason) -> None:
    with pytest.raises(m.RecordError) as e:
        m.quota_state(m.KEY, "key1", "", m.decode_session(raw))
    assert e.value.reason == reason
    assert "key1" not in e.value.detail  # details are logged: never the key


def test_quota_max_zero_or_unlimited_is_valid_and_never_fires(table_cls) -> None:
    for raw in (b'{"quota_max": 0}', b'{"quota_max": -1, "quota_remaining": 0}'):
        st = m.quota_state(m.KEY, "k", "", m.decode_session(raw))
        assert st.quotas == () and m.evaluate(st, table_cls(), NOW, 50.0) is None


# -- gates, key hashing, the Meta bytes ------------------------------------------------------------


def test_rule_gates() -> None:
    assert m.MonitorRule().skip(m.KEY) == m.DISABLED
    r = m.MonitorRule(enabled=True, user_keys=True, org_keys=False)
    assert (r.skip(m.KEY), r.skip(m.ORG)) == (None, m.ORG_KEYS_OFF)
    r = m.MonitorRule(enabled=True, user_keys=False, org_keys=True)
    assert (r.skip(m.KEY), r.skip(m.ORG)) == (m.USER_KEYS_OFF, None)


def test_state_key_is_a_stable_64_bit_blake2b() -> None:
    # The derivation is part of the shared-state contract between instances (docs/monitor.md).
    want = int.from_bytes(hashlib.blake2b(b"quota\x00key1\x00", digest_size=8).digest(), "big")
    assert m.state_key(m.KEY, "key1") == want
    assert m.state_key(m.KEY, "key1", "a1") != want != m.state_key(m.ORG, "key1")
    assert 0 <= m.state_key(m.ORG, "\udcff odd") < 1 << 64


def test_trigger_meta_is_go_json_of_the_struct() -> None:
    # Go's json.Marshal(EventTriggerExceededMeta), verified (docs/monitor.md#the-event).
    assert m.trigger_meta("org1", "key1", 80.0, 85.7) == (
        b'{"Message":"Quota trigger reached","OriginatingRequest":"","org_id":"org1","key":"key1",'
        b'"trigger_limit":80,"usage_percentage":85}'
    )
    odd = m.trigger_meta("<o&>", 'k"\u2028\\', 99.99, 100.0)
    assert odd == (
        b'{"Message":"Quota trigger reached","OriginatingRequest":"","org_id":"\\u003co\\u0026\\u003e",'
        b'"key":"k\\"\\u2028\\\\","trigger_limit":99,"usage_percentage":100}'
    )
