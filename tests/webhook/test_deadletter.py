"""Dead-letter stores (file, Redis) and `tykevents deadletter list | replay` as a real command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from tests.webhook.receiver import Receiver
from tests.webhook.test_service import delivery, wait_idle
from tykevents.deliver.webhook.deadletter import FileDeadLetters, RedisDeadLetters
from tykevents.deliver.webhook.delivery import Delivery

ROOT = Path(__file__).resolve().parents[2]


async def test_file_store_roundtrip(tmp_path: Path) -> None:
    store = FileDeadLetters(tmp_path / "state" / "dl.jsonl")
    recs = [delivery(f"http://h/{i}").to_record() for i in range(3)]
    await store.add(recs[:2])
    await store.add(recs[2:])
    assert [r["id"] for r in await store.list()] == [r["id"] for r in recs]
    assert (tmp_path / "state" / "dl.jsonl").stat().st_mode & 0o777 == 0o600
    assert await store.remove([recs[1]["id"], "nope"]) == 1
    assert [r["id"] for r in await store.list()] == [recs[0]["id"], recs[2]["id"]]


async def test_file_store_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    store = FileDeadLetters(path)
    rec = delivery("http://h/").to_record()
    await store.add([rec])
    with open(path, "ab") as f:
        f.write(b'{"id": "half-writ')
    listed = await store.list()
    assert listed[0]["id"] == rec["id"] and listed[1]["error"] == "unreadable dead-letter line"
    assert await store.remove([rec["id"]]) == 1
    assert path.read_bytes() == b'{"id": "half-writ\n'  # kept for the operator


async def test_record_roundtrip_rebuilds_the_same_request() -> None:
    d = delivery("http://u:p@h:8080/x?y=1", b"\x00\xffbody", headers={"X-A": "1"})
    d.attempts, d.error, d.status = 3, "boom", 503
    back = Delivery.from_record(json.loads(json.dumps(d.to_record())))
    assert back.body == d.body and back.plan.wire_headers(6) == d.plan.wire_headers(6)
    assert (back.attempts, back.error, back.status, back.handler, back.api_id) == (
        3,
        "boom",
        503,
        "h1",
        "api1",
    )


@pytest.mark.redis
async def test_redis_store_and_service(redis_url: str, services: Any) -> None:
    client = aredis.Redis.from_url(redis_url)
    svc = None
    try:
        store = RedisDeadLetters(client)
        await store.add([delivery("http://h/a").to_record(), delivery("http://h/b").to_record()])
        listed = await store.list()
        assert [r["url"] for r in listed] == ["http://h/a", "http://h/b"]
        assert await store.remove([listed[0]["id"]]) == 1 and len(await store.list()) == 1
        # A service on Redis dead-letters into the shared stream.
        svc = await services(redis=client, max_attempts=1)
        svc.submit(delivery("http://127.0.0.1:9/refused"))
        await wait_idle(svc)
        assert [r["url"] for r in await store.list()] == ["http://h/b", "http://127.0.0.1:9/refused"]
    finally:
        if svc is not None:  # first: its spool and delivery log would reopen a closed client
            await svc.close()
        await client.aclose()


async def run_cli(*args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tykevents",
        "deadletter",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_cli_list_and_replay(tmp_path: Path, services: Any) -> None:
    dl_path = tmp_path / "var" / "dead.jsonl"
    conf = tmp_path / "tyk.conf"
    conf.write_text(
        json.dumps({"tykevents": {"webhooks": {"dead_letter_path": "var/dead.jsonl", "timeout": 5}}})
    )
    healthy = True
    r = Receiver(respond=lambda req: 200 if healthy else 500)
    await r.start()
    try:
        svc = await services(dead_letter_path=str(dl_path), max_attempts=1)
        healthy = False
        svc.submit(
            delivery(
                f"http://user:hunter2@127.0.0.1:{r.port}/hook",
                b'{"key": "secret-key-1234"}',
                headers={"X-Api-Key": "hdr-secret"},
            )
        )
        svc.submit(delivery("http://127.0.0.1:9/never", b"{}"))
        await wait_idle(svc)
        code, out = await run_cli("list", "-c", str(conf), cwd=tmp_path)
        assert code == 0 and "2 dead letter(s)" in out, out
        assert "status=500 attempts=1 body=26B" in out and "user:***@127.0.0.1" in out
        for secret in ("secret-key-1234", "hdr-secret", "hunter2"):
            assert secret not in out
        code, out = await run_cli("list", "--json", "--config", str(conf), cwd=tmp_path)
        rows = sorted((json.loads(line) for line in out.splitlines()), key=lambda row: row["url"])
        assert [row["body_bytes"] for row in rows] == [2, 26] and "secret" not in out
        code, full = await run_cli("list", "--full", "-c", str(conf), cwd=tmp_path)
        assert "hdr-secret" in full
        healthy = True
        first_id = rows[1]["id"]
        code, out = await run_cli("replay", "--all", "-c", str(conf), cwd=tmp_path)
        assert code == 1, out  # the second one still fails
        assert f"{first_id}: delivered (200), removed" in out and "connection refused" in out
        replayed = r.requests[-1]
        assert replayed.body == b'{"key": "secret-key-1234"}' and replayed.header("X-Api-Key") == "hdr-secret"
        assert replayed.header("Authorization") == "Basic dXNlcjpodW50ZXIy"
        remaining = [json.loads(line) for line in dl_path.read_text().splitlines()]
        assert [x["url"] for x in remaining] == ["http://127.0.0.1:9/never"]
        code, out = await run_cli("replay", "--id", "nope", "-c", str(conf), cwd=tmp_path)
        assert code == 1 and "nope: no such dead letter" in out
    finally:
        await r.close()


async def test_cli_refuses_a_missing_or_broken_config(tmp_path: Path) -> None:
    """No fallback to defaults: that would list (or replay) some other store."""
    missing = tmp_path / "nope" / "tyk.conf"
    code, out = await run_cli("list", "-c", str(missing), cwd=tmp_path)
    assert code == 2 and f"{missing}: no such config file" in out and "dead letter" not in out, out
    code, out = await run_cli("replay", "--all", "--config", str(missing), cwd=tmp_path)
    assert code == 2 and f"{missing}: no such config file" in out, out
    broken = tmp_path / "tyk.conf"
    broken.write_text("{not json")
    code, out = await run_cli("list", "-c", str(broken), cwd=tmp_path)
    assert code == 2 and "not valid JSON" in out and "Traceback" not in out, out


async def test_keeper_falls_back_then_keeps_and_counts_the_lost(tmp_path: Path) -> None:
    from tykevents.deliver.webhook.deadletter import DeadLetterKeeper

    (tmp_path / "blocker").write_text("")
    broken = FileDeadLetters(tmp_path / "blocker" / "dl.jsonl")
    fallback = FileDeadLetters(tmp_path / "fb.jsonl")
    keeper = DeadLetterKeeper(broken, fallback)
    keeper.add(delivery("http://h/1").to_record())
    assert await keeper.finish() == 0
    assert [r["url"] for r in await fallback.list()] == ["http://h/1"] and keeper.fallbacks == 1
    nowhere = DeadLetterKeeper(broken, FileDeadLetters(tmp_path / "blocker" / "fb.jsonl"))
    nowhere.add(delivery("http://h/2").to_record())
    async with asyncio.timeout(5):
        while not nowhere.failing:
            await asyncio.sleep(0.01)
    assert nowhere.waiting and nowhere.lost == 0  # kept while running
    assert await nowhere.finish() == 1 and nowhere.waiting == []


async def test_cli_lists_and_replays_the_fallback_file_too(tmp_path: Path) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"tykevents": {"webhooks": {"dead_letter_path": "var/dead.jsonl"}}}))
    r = Receiver()
    await r.start()
    try:
        await FileDeadLetters(tmp_path / "var" / "dead.jsonl").add([delivery(r.url("/main")).to_record()])
        fallback = FileDeadLetters(tmp_path / "var" / "dead-letter.fallback.jsonl")
        await fallback.add([delivery(r.url("/fallback")).to_record()])
        code, out = await run_cli("list", "-c", str(conf), cwd=tmp_path)
        assert code == 0 and "2 dead letter(s)" in out and "/main" in out and "/fallback" in out, out
        code, out = await run_cli("replay", "--all", "-c", str(conf), cwd=tmp_path)
        assert code == 0 and out.count("delivered (200), removed") == 2, out
        assert sorted(q.target for q in r.requests) == ["/fallback", "/main"]
        assert await fallback.list() == []
    finally:
        await r.close()
