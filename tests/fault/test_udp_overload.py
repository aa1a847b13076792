"""Twice the deliverable rate over UDP: every record is accounted for (handled, dropped at the
lane, rejected or dropped by the kernel), and every handled webhook is delivered exactly once.
The 60-second version is `python bench/udp_overload.py` (`make soak-udp`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.overload import account, offer, setup, slow
from tests.support.threaded import ThreadedReceiver

pytestmark = pytest.mark.e2e

DELAY, CONCURRENCY = 0.005, 10  # the receiver delivers at most 2,000/s


@pytest.fixture
def slow_receiver() -> Iterator[ThreadedReceiver]:
    r = ThreadedReceiver(slow(DELAY, CONCURRENCY))
    try:
        yield r
    finally:
        r.close()


def test_2x_udp_overload_accounts_for_every_record(run_daemon, slow_receiver) -> None:
    d = run_daemon(**setup(slow_receiver.url("/hook")))
    capacity = CONCURRENCY / DELAY
    sent = offer(d.udp, 2 * capacity, seconds=3)
    acc = account(d, slow_receiver, sent)
    assert acc.accounted == sent, acc.line()
    assert acc.dropped > 0, "no overload happened: " + acc.line()
    assert acc.delivered == acc.distinct == acc.handled, acc.line()
