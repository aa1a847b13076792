"""An instance that accepts deliveries into the Redis spool and then waits to be killed.

    python -m tests.webhook.spool_child REDIS_URL TARGET_URL COUNT CONSUMER
Prints "written" once every delivery is in the stream and "taken N" once N are in flight.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

import redis.asyncio as aredis

from tykevents.config import WebhookSettings
from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.request import JSON, RequestPlan, tyk_header
from tykevents.deliver.webhook.service import WebhookService


async def main(redis_url: str, target: str, count: int, consumer: str) -> None:
    client = aredis.Redis.from_url(redis_url)
    settings = WebhookSettings(
        spool=True, spool_consumer=consumer, timeout=600, dead_letter_path=tempfile.mktemp()
    )
    svc = WebhookService(settings, redis=client)
    await svc.start()
    plan = RequestPlan("POST", target, tyk_header({}, JSON, False))
    for i in range(count):
        svc.submit(Delivery(plan, b'{"n": %d}' % i, handler="child"))
    await svc.spool.write_pending()
    print("written", flush=True)
    while svc.pending < count:
        await asyncio.sleep(0.01)
    print(f"taken {svc.pending}", flush=True)
    await asyncio.sleep(3600)  # until SIGKILL: a crash, nothing acknowledged


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
