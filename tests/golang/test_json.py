"""handler_meta decoding as Tyk's Scan does it (docs/compatibility.md): json.Marshal of the map, then
json.Unmarshal into the typed struct."""

from __future__ import annotations

import dataclasses

import pytest

from tykevents.deliver.log import LogEventHandlerConf
from tykevents.golang.json import GoJSONError, scan


@dataclasses.dataclass
class HookConf:
    """Shaped like apidef.WebHookHandlerConf: every field kind scan supports."""

    disabled: bool = False
    method: str = ""
    target_path: str = ""
    header_map: dict[str, str] = dataclasses.field(default_factory=dict)
    event_timeout: int = 0


def hook(meta):
    return scan(meta, HookConf, "apidef.WebHookHandlerConf")


def test_plain_decode():
    c = hook(
        {
            "disabled": False,
            "method": "POST",
            "target_path": "http://x/",
            "header_map": {"Auth": "k"},
            "event_timeout": 20,
        }
    )
    assert c == HookConf(False, "POST", "http://x/", {"Auth": "k"}, 20)


def test_keys_match_case_insensitively():
    c = hook({"Target_Path": "http://x/", "METHOD": "PUT", "Event_Timeout": 5, "Header_Map": {"a": "b"}})
    assert (c.target_path, c.method, c.event_timeout, c.header_map) == ("http://x/", "PUT", 5, {"a": "b"})


def test_unknown_keys_ignored():
    assert hook({"target_path": "u", "nope": [1], "template": {"x": 1}}) == HookConf(target_path="u")


@pytest.mark.parametrize("meta", [None, {}])
def test_null_or_missing_meta_is_the_zero_conf(meta):
    assert hook(meta) == HookConf()
    assert scan(meta, LogEventHandlerConf) == LogEventHandlerConf(False, "")


def test_null_field_leaves_zero_value():
    assert hook({"method": None, "header_map": None, "event_timeout": None}) == HookConf()


@pytest.mark.parametrize(
    "meta, field, gotype",
    [
        ({"method": 123}, "method", "string"),  # TestNewInvalid
        ({"disabled": "true"}, "disabled", "bool"),
        ({"disabled": 1}, "disabled", "bool"),
        ({"header_map": {"X": 1}}, "header_map", "string"),
        ({"header_map": {"X": True}}, "header_map", "string"),
        ({"header_map": ["X"]}, "header_map", "map[string]string"),
        ({"event_timeout": "10"}, "event_timeout", "int64"),
        ({"event_timeout": 10.5}, "event_timeout", "int64"),
        ({"event_timeout": True}, "event_timeout", "int64"),
        ({"event_timeout": 2.0**63}, "event_timeout", "int64"),
        ({"event_timeout": 10**30}, "event_timeout", "int64"),
        ({"target_path": {"u": 1}}, "target_path", "string"),
    ],
)
def test_type_mismatch_fails(meta, field, gotype):
    with pytest.raises(GoJSONError) as e:
        hook(meta)
    # Go names the struct without its package in a field error.
    assert str(e.value).endswith(f"into Go struct field WebHookHandlerConf.{field} of type {gotype}")


def test_integral_float_is_accepted():
    # float64(10) re-marshals as `10`.
    c = hook({"event_timeout": 10.0})
    assert c.event_timeout == 10 and type(c.event_timeout) is int
    assert hook({"event_timeout": -3.0}).event_timeout == -3
    assert hook({"event_timeout": 1e18}).event_timeout == 10**18


def test_integers_pass_through_float64_like_tyk():
    # Tyk holds handler_meta numbers as float64: 2^53 + 1 arrives as 2^53.
    assert hook({"event_timeout": 2**53 + 1}).event_timeout == 2**53


def test_null_header_value_is_empty_string():
    assert hook({"header_map": {"X": None}}).header_map == {"X": ""}


@pytest.mark.parametrize("meta", ["x", 5, [1], True])
def test_non_object_meta_fails(meta):
    with pytest.raises(GoJSONError, match="into Go value of type apidef.LogEventHandlerConf"):
        scan(meta, LogEventHandlerConf, "apidef.LogEventHandlerConf")


def test_duplicate_keys_follow_marshal_order():
    # json.Marshal writes map keys sorted by bytes; a later key overwrites an earlier one.
    # Upper case sorts first, so the exact lower-case key wins whatever the document order.
    assert scan({"prefix": "exact", "Prefix": "folded"}, LogEventHandlerConf).prefix == "exact"
    assert scan({"Prefix": "folded", "prefix": "exact"}, LogEventHandlerConf).prefix == "exact"
    # Between two folded variants the one that sorts last wins, not the later in the file.
    assert scan({"Prefix": "b", "PREFIX": "a"}, LogEventHandlerConf).prefix == "b"
    # A null does not undo an earlier value.
    assert scan({"Prefix": "b", "prefix": None}, LogEventHandlerConf).prefix == "b"


def test_a_mistyped_variant_fails_even_beside_a_good_exact_key():
    with pytest.raises(GoJSONError):
        scan({"prefix": "ok", "Prefix": 5}, LogEventHandlerConf)


def test_go_unicode_folding():
    # Go folds the Kelvin sign (U+212A) to k and the long s (U+017F) to s.
    assert scan({"di\u017fabled": True}, LogEventHandlerConf).disabled is True
    assert scan({"\u212aey": "v"}, KeyConf).key == "v"
    assert scan({"kez": "v"}, KeyConf).key == ""


@dataclasses.dataclass
class KeyConf:
    key: str = ""
