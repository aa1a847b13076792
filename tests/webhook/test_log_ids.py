"""Delivery log ids (the Standard Webhooks `webhook-id`): uuid4s drawn from os.urandom in
batches (deliver/webhook/delivery.py), unique within a process and across a fork."""

from __future__ import annotations

import os
import uuid

from tykevents.deliver.webhook.delivery import new_log_id


def test_ids_are_uuid4_in_hex_and_unique_across_many_draws() -> None:
    ids = [new_log_id() for _ in range(5000)]  # many batches of os.urandom
    assert len(set(ids)) == len(ids)
    for i in ids:
        u = uuid.UUID(hex=i)
        assert u.hex == i and len(i) == 32
        assert u.version == 4 and u.variant == uuid.RFC_4122


def test_a_forked_child_never_hands_out_its_parents_ids() -> None:
    new_log_id()  # the parent holds a drawn batch when it forks
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(w, " ".join(new_log_id() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        child = set(f.read().decode().split())
    os.waitpid(pid, 0)
    parent = {new_log_id() for _ in range(50)}
    assert len(child) == 50 and not child & parent
