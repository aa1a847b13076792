"""handler_meta decoding, Go encoding/json rules (docs/webhooks.md#the-request; TestNewInvalid)."""

from __future__ import annotations

import pytest

from tykevents.deliver.base import HandlerConfigError
from tykevents.deliver.webhook.conf import WebHookConf, from_meta


def test_missing_or_null_meta_is_all_zero() -> None:
    assert from_meta(None) == WebHookConf()
    assert from_meta({}) == WebHookConf()


def test_oas_converted_meta() -> None:
    # apidef/oas/event_test.go extractTo, webhook case.
    conf = from_meta(
        {
            "disabled": False,
            "method": "POST",
            "template_path": "/path/to/template",
            "header_map": {"Auth": "key"},
            "target_path": "https://webhook.site/uuid",
            "event_timeout": 20,
            "id": "random-id",
            "name": "test-webhook",
        }
    )
    assert conf == WebHookConf(
        False,
        "random-id",
        "test-webhook",
        "POST",
        "https://webhook.site/uuid",
        "/path/to/template",
        {"Auth": "key"},
        20,
    )


@pytest.mark.parametrize(
    "meta, key",
    [
        ({"method": 123}, "method"),  # TestNewInvalid
        ({"disabled": "true"}, "disabled"),
        ({"event_timeout": "10"}, "event_timeout"),
        ({"event_timeout": 10.5}, "event_timeout"),
        ({"event_timeout": True}, "event_timeout"),
        ({"event_timeout": 2.0**63}, "event_timeout"),
        ({"event_timeout": 1e21}, "event_timeout"),
        ({"header_map": {"X-A": 1}}, "X-A"),
        ({"header_map": ["a"]}, "header_map"),
        ({"target_path": None, "template_path": ["x"]}, "template_path"),
    ],
)
def test_type_mismatch_drops_the_handler(meta: dict, key: str) -> None:
    with pytest.raises(HandlerConfigError) as e:
        from_meta(meta)
    assert key in str(e.value)
    assert str(e.value).startswith("json: cannot unmarshal ")


def test_non_object_meta() -> None:
    with pytest.raises(HandlerConfigError, match="cannot unmarshal array into Go value"):
        from_meta([1])


def test_integral_float_timeout_is_accepted() -> None:
    assert from_meta({"event_timeout": 10.0}).event_timeout == 10
    assert from_meta({"event_timeout": -3}).event_timeout == -3
    # Tyk decoded the definition into float64 first: precision beyond 2**53 is gone.
    assert from_meta({"event_timeout": 9007199254740993}).event_timeout == 9007199254740992


def test_keys_match_case_insensitively() -> None:
    conf = from_meta(
        {
            "Target_Path": "http://x/",
            "METHOD": "post",
            "Header_Map": {"a": "b"},
            "Event_Timeout": 5,
            "unknown": [1, 2],
        }
    )
    assert (conf.target_path, conf.method, conf.header_map, conf.event_timeout) == (
        "http://x/",
        "post",
        {"a": "b"},
        5,
    )


def test_exact_key_wins_because_it_sorts_last() -> None:
    # Tyk re-marshals a Go map: keys sorted by bytes, a later key overwrites an earlier one.
    assert from_meta({"method": "GET", "Method": "POST"}).method == "GET"
    assert from_meta({"Method": "POST", "method": "GET"}).method == "GET"
    assert from_meta({"Method": "POST", "METHOD": "PUT"}).method == "POST"


def test_unicode_simple_folding() -> None:
    # U+017F (long s) folds to "s" and U+212A (Kelvin) to "k" in Go's EqualFold.
    assert from_meta({"diſabled": True}).disabled is True
    assert from_meta({"\u212aey": "x"}) == WebHookConf()  # no field "key": ignored


def test_null_values() -> None:
    conf = from_meta({"method": None, "header_map": {"X-A": None}, "event_timeout": None})
    assert conf == WebHookConf(header_map={"X-A": ""})
    assert from_meta({"Header_Map": {"a": "1"}, "header_map": None}).header_map == {}


def test_header_maps_under_two_spellings_merge() -> None:
    # encoding/json decodes the second object into the map the first one created.
    assert from_meta({"Header_Map": {"a": "1"}, "header_map": {"b": "2"}}).header_map == {"a": "1", "b": "2"}
