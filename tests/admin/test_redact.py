"""What the admin API masks (tykevents/admin/redact.py)."""

from __future__ import annotations

from tykevents.admin.redact import redact_headers, redact_meta, redact_record, redact_url, scrub


def test_urls_lose_userinfo_query_values_and_fragment():
    assert redact_url("https://u:p@h:8443/x?token=abc&x=1&flag#frag") == (
        "https://****@h:8443/x?token=****&x=****&flag#****"
    )
    assert redact_url("http://user@h/") == "http://****@h/"
    assert redact_url("http://h/p@x?") == "http://h/p@x?"  # an @ in the path is no userinfo
    assert redact_url("http://h/x") == "http://h/x"
    assert redact_url("not a url") == "not a url"


def test_error_texts_lose_the_urls_secrets():
    url = "http://u:p@h/x?token=abc"
    assert (
        scrub(f'Post "{url}": dial tcp: refused', url)
        == 'Post "http://****@h/x?token=****": dial tcp: refused'
    )
    assert scrub("nothing here", "") == "nothing here"


def test_secret_headers_and_meta_keys():
    hs = {"Authorization": ["Bearer x"], "X-Api-Key": ["k"], "X-My-Token": ["t"], "Content-Type": ["a/b"]}
    assert redact_headers(hs) == {
        "Authorization": ["****"],
        "X-Api-Key": ["****"],
        "X-My-Token": ["****"],
        "Content-Type": ["a/b"],
    }
    assert redact_headers([["Cookie", ["a=b"]], ["Accept", ["*/*"]]]) == [
        ["Cookie", ["****"]],
        ["Accept", ["*/*"]],
    ]
    assert redact_meta({"Key": "abc", "Path": "/x", "Nested": {"token": "t", "Origin": "o"}}) == {
        "Key": "****",
        "Path": "/x",
        "Nested": {"token": "****", "Origin": "o"},
    }


def test_records_nested_and_the_callers_copy_untouched():
    rec = {
        "url": "http://a:b@h/?k=v",
        "headers": [["X-Secret", ["s"]]],
        "body": "eyJrZXkiOiAiYWJjIn0=",
        "meta": {"Key": "abc"},
        "attempts": [{"n": 1, "error": "GET http://a:b@h/?k=v failed"}],
    }
    out = redact_record(rec)
    assert out == {
        "url": "http://****@h/?k=****",
        "headers": [["X-Secret", ["****"]]],
        "body": "****",
        "meta": {"Key": "****"},
        "attempts": [{"n": 1, "error": "GET http://****@h/?k=**** failed"}],
    }
    assert rec["url"] == "http://a:b@h/?k=v" and rec["attempts"][0]["error"].startswith("GET http://a:b@")
    assert redact_record({"target": "POST http://a:b@h/x?t=1"})["target"] == "POST http://****@h/x?t=****"
