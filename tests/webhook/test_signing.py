"""Standard Webhooks signing (docs/webhooks.md#signing), checked by an independent verifier:
the `standardwebhooks` package, on requests a real loopback receiver captured."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.daemon import classic_api
from tests.webhook.receiver import RawRequest, Receiver, response
from tykevents.apps import load_definitions
from tykevents.config import Config, ConfigError, SigningSettings, WebhookSettings, load_config
from tykevents.deliver.base import APIInfo, HandlerConfigError, HandlerContext, HandlerServices
from tykevents.deliver.webhook import signing
from tykevents.deliver.webhook.client import HttpSender
from tykevents.deliver.webhook.handler import build_webhook_handler
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
from tykevents.deliver.webhook.signing import Signer
from tykevents.handlers import build_generation
from tykevents.model import Event

# The reference libraries' own test vector (their Go, Python, JS, ... suites share it).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD = "whsec_" + "b2xkLXNlY3JldC1vZi0zMi1ieXRlcy1sb25nLi4uLg=="  # 32 bytes
NEW = "whsec_" + "bmV3LXNlY3JldC1vZi0zMi1ieXRlcy1sb25nLi4uLg=="
OWN = "whsec_" + "aGFuZGxlci1vd24tc2VjcmV0LTMyLWJ5dGVzLi4uLi4="
TEMPLATE = "signed.json"
SIGNING_LINES = ("Webhook-Id", "Webhook-Signature", "Webhook-Timestamp")


@pytest.fixture(autouse=True)
def no_handlers() -> Iterator[None]:
    signing.forget_all()
    yield
    signing.forget_all()


def verify(secret: str, req: RawRequest) -> None:
    """Raises WebhookVerificationError unless `secret` signed what the receiver got."""
    Webhook(secret).verify(req.body, dict(req.header_lines))


def unsigned_lines(req: RawRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, v in req.header_lines if k not in SIGNING_LINES]


@pytest.fixture
async def make_sender() -> AsyncIterator[Any]:
    made: list[HttpSender] = []

    async def make(*secrets: str) -> HttpSender:
        s = HttpSender(WebhookSettings(timeout=5, signing=SigningSettings(secrets=list(secrets))))
        await s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


def test_the_reference_vector() -> None:
    assert Signer.from_secrets([VECTOR_SECRET]).signature(*VECTOR) == VECTOR_SIGNATURE
    two = Signer.from_secrets([OLD, VECTOR_SECRET]).signature(*VECTOR).split(" ")
    assert len(two) == 2 and two[1] == VECTOR_SIGNATURE


def test_secrets_never_show() -> None:
    assert OLD not in repr(SigningSettings(secrets=[OLD])) and "MfKQ" not in repr(Signer.from_secrets([OLD]))


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 'expected "whsec_"'),  # no prefix
        ("whsec_not*base64*at*all", "not valid base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes, got 5"),
        ("whsec_" + "QUFB" * 22, "24 to 64 bytes, got 66"),
        ("whsec_", "24 to 64 bytes, got 0"),
    ],
)
def test_bad_secret_is_refused(secret: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as e:
        Signer.from_secrets([OLD, secret], "s")
    assert str(e.value).startswith("s[1]: ") and (len(secret) < 10 or secret[6:] not in str(e.value))


async def test_signed_request_verifies_with_each_secret_and_is_tyk_s_otherwise(
    make_sender: Any, receiver: Receiver
) -> None:
    body = b'{"event": "AuthFailure", "key": "k"}'
    plan = RequestPlan("POST", receiver.url("/hook"), tyk_header({"x-tyk-test": "TEST"}, JSON, False))
    plain = await make_sender()
    signed = await make_sender(OLD, NEW)
    assert (await plain.send(plan, body)).ok and (await signed.send(plan, body)).ok
    tyk, ours = receiver.requests
    assert not any(k.lower().startswith("webhook-") for k, _ in tyk.header_lines)
    for secret in (OLD, NEW):  # rotation: either secret verifies
        verify(secret, ours)
    with pytest.raises(WebhookVerificationError):
        verify(OWN, ours)
    assert len(ours.header("webhook-signature").split(" ")) == 2
    # Every other line as Tyk sends it; ours in Go's canonical form, where Go sorts them.
    assert unsigned_lines(ours) == tyk.header_lines and ours.body == tyk.body == body
    assert [k for k, _ in ours.header_lines] == [
        "Host",
        "User-Agent",
        "Content-Length",
        "Content-Type",
        "Webhook-Id",
        "Webhook-Signature",
        "Webhook-Timestamp",
        "X-Tyk-Test",
        "Accept-Encoding",
    ]


async def test_header_map_cannot_forge_the_signing_headers(make_sender: Any, receiver: Receiver) -> None:
    header = tyk_header({"webhook-id": "forged", "webhook-signature": "v1,AAAA"}, JSON, True)
    sender = await make_sender(NEW)
    assert (await sender.send(RequestPlan("POST", receiver.url(), header), b"{}")).ok
    req = receiver.requests[0]
    names = [k.lower() for k, _ in req.header_lines]
    assert names.count("webhook-id") == 1 and names.count("webhook-signature") == 1
    assert req.header("webhook-id") != "forged"
    verify(NEW, req)


# -- through handlers and the delivery service ----------------------------------------------------


def handler_ctx(svc: Any, base: Path) -> HandlerContext:
    # A small template of the handler's own: the default one's first render is slow to compile.
    (base / TEMPLATE).write_text('{"event": "{{.Type}}", "key": "{{.Meta.Key}}"}')
    return HandlerContext(
        config=Config(base_dir=str(base), template_path=str(base)),
        api=APIInfo("api1", "org1", "API", "apps/api1.json"),
        where="apps/api1.json:$.event_handlers.events.AuthFailure[0]",
        services=HandlerServices(webhooks=svc),
    )


def hook(url: str, name: str, **meta: Any) -> dict[str, Any]:
    return {"method": "POST", "target_path": url, "name": name, "template_path": TEMPLATE, **meta}


def auth_failure(key: str = "k1") -> Event:
    meta = {"Message": "Auth Failure", "Path": "/p", "Origin": "10.0.0.1", "Key": key}
    return Event("AuthFailure", orjson.dumps(meta), "2024-03-05 14:07:09 +0000 UTC", "api1", "org1")


async def idle(svc: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while svc.pending:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the dead-letter writer finish


async def test_per_handler_secrets_override_or_turn_off_the_global_ones(
    services: Any, receiver: Receiver, tmp_path: Path
) -> None:
    svc = await services(signing=SigningSettings(secrets=[OLD]))
    ctx = handler_ctx(svc, tmp_path)
    own = build_webhook_handler(hook(receiver.url("/own"), "own", tykevents_signing={"secrets": [OWN]}), ctx)
    off = build_webhook_handler(hook(receiver.url("/off"), "off", tykevents_signing={"secrets": []}), ctx)
    glob = build_webhook_handler(hook(receiver.url("/global"), "global"), ctx)
    for h in (own, off, glob):
        await h.handle(auth_failure())
    await idle(svc)
    got = {r.target: r for r in receiver.requests}
    verify(OWN, got["/own"])
    with pytest.raises(WebhookVerificationError):
        verify(OLD, got["/own"])
    assert got["/off"].header("webhook-signature") is None and got["/off"].header("webhook-id") is None
    verify(OLD, got["/global"])
    assert len({r.header("webhook-id") for r in (got["/own"], got["/global"])}) == 2


async def test_retries_keep_the_id_and_take_a_new_timestamp(
    services: Any, receivers: Any, tmp_path: Path
) -> None:
    r = await receivers(lambda req: response(503, {"Retry-After": "1"}) if req.index == 0 else 200)
    svc = await services(signing=SigningSettings(secrets=[NEW]))
    h = build_webhook_handler(hook(r.url("/h"), "h"), handler_ctx(svc, tmp_path))
    await h.handle(auth_failure())
    await idle(svc)
    first, second = r.requests
    assert first.header("webhook-id") == second.header("webhook-id")
    assert int(second.header("webhook-timestamp")) > int(first.header("webhook-timestamp"))
    assert first.header("webhook-signature") != second.header("webhook-signature")
    for req in (first, second):
        verify(NEW, req)


async def test_dead_letters_hold_no_secret_and_are_re_signed_when_replayed(
    services: Any, receivers: Any, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    failing = True
    r = await receivers(lambda req: 500 if failing else 200)
    svc = await services(signing=SigningSettings(secrets=[OLD]), max_attempts=2)
    ctx = handler_ctx(svc, tmp_path)
    h = build_webhook_handler(hook(r.url("/h"), "h", tykevents_signing={"secrets": [OWN]}), ctx)
    await h.handle(auth_failure())
    await idle(svc)
    stored = Path(svc.dead_letters.path).read_text()
    letter = json.loads(stored.splitlines()[0])
    for secret in (OLD, OWN):
        assert secret[6:] not in stored and secret[6:] not in caplog.text
    assert "webhook-" not in stored.lower()  # the request as Tyk builds it, unsigned
    first_id = r.requests[0].header("webhook-id")
    # The handler is rebuilt with a rotated secret (a reload); the replay signs with it.
    build_webhook_handler(hook(r.url("/h"), "h", tykevents_signing={"secrets": [NEW, OWN]}), ctx)
    failing = False
    assert await svc.replay_dead_letters([letter["id"]]) == 1
    await idle(svc)
    replayed = r.requests[-1]
    assert replayed.header("webhook-id") == first_id  # one message, one id: receivers dedupe on it
    verify(NEW, replayed)
    verify(OWN, replayed)
    with pytest.raises(WebhookVerificationError):
        verify(OLD, replayed)


# -- configuration -----------------------------------------------------------------------------------


def test_bad_global_secret_is_refused_at_load_with_file_and_path(tmp_path: Path) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_text(
        json.dumps({"tykevents": {"webhooks": {"signing": {"secrets": [OLD, "whsec_c2hvcnQ="]}}}})
    )
    with pytest.raises(ConfigError) as e:
        load_config(conf, env={})
    msg = str(e.value)
    assert msg.startswith(f"{conf}: secrets[1]: the key must be 24 to 64 bytes, got 5")
    assert "$.tykevents.webhooks.signing" in msg and "c2hvcnQ" not in msg
    ok = load_config(None, env={"TYK_GW_TYKEVENTS_WEBHOOKS_SIGNING_SECRETS": f"{OLD},{NEW}"})
    assert ok.tykevents.webhooks.signing.secrets == [OLD, NEW]


def test_bad_handler_secret_fails_that_handler_with_its_path(tmp_path: Path) -> None:
    bad = "whsec_" + "QUFB" * 22
    events = {
        "AuthFailure": [
            {"handler_name": "eh_web_hook_handler", "handler_meta": hook("http://127.0.0.1:9/ok", "ok")},
            {
                "handler_name": "eh_web_hook_handler",
                "handler_meta": hook("http://127.0.0.1:9/b", "b", tykevents_signing={"secrets": [OWN, bad]}),
            },
        ]
    }
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "a.json").write_text(json.dumps(classic_api("a", events)))
    conf = tmp_path / "tyk.conf"
    (tmp_path / TEMPLATE).write_text("{}")
    conf.write_text(json.dumps({"app_path": "apps", "template_path": str(tmp_path)}))
    cfg = load_config(conf, env={})
    apis, _ = load_definitions(cfg)
    built = build_generation(cfg, apis, HandlerServices(check_only=True))
    [p] = [p for p in built.problems if "tykevents_signing" in p.message]
    assert p.where == f"{tmp_path / 'apps' / 'a.json'}:$.event_handlers.events.AuthFailure[1]"
    assert [x.message for x in built.problems] == [p.message]  # the other handler is fine
    assert "handler_meta.tykevents_signing.secrets[1]: the key must be 24 to 64 bytes, got 66" in p.message
    assert "QUFB" not in p.message
    assert [h.name for h in built.routes.by_api["a"].get("AuthFailure", [])] == ["ok"]


@pytest.mark.parametrize(
    "value",
    [{"secrets": "whsec_x"}, {}, {"secrets": [], "extra": 1}, ["whsec_x"], {"secrets": [7]}],
)
def test_malformed_handler_setting_is_refused(value: Any, tmp_path: Path) -> None:
    with pytest.raises(HandlerConfigError, match=r"^handler_meta\.tykevents_signing"):
        build_webhook_handler(
            hook("http://127.0.0.1:9/", "x", tykevents_signing=value), handler_ctx(None, tmp_path)
        )
