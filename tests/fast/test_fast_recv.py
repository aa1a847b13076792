"""The batched datagram receiver, on both twins, over real UDP and Unix datagram sockets."""

from __future__ import annotations

import socket
from pathlib import Path
from types import ModuleType

import pytest

from tests.fast.conftest import TWINS, load_twin


@pytest.fixture(params=TWINS)
def recv_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_twin("recv", request.param)


def udp_pair() -> tuple[socket.socket, socket.socket]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    return rx, tx


def test_batches_in_order_and_empty_when_drained(recv_mod: ModuleType) -> None:
    rx, tx = udp_pair()
    try:
        sent = [b"", b"a", b"x" * 1000] + [b"%d" % i for i in range(10)]
        for d in sent:
            tx.send(d)
        r = recv_mod.BatchReceiver(rx.fileno(), 4, 65536)
        got: list[bytes] = []
        while batch := r.recv_batch():
            assert len(batch) <= 4
            got += batch
        assert got == sent
        assert r.recv_batch() == []
        assert (r.truncated, r.errors) == (0, 0)
        r.close()
        assert rx.fileno() >= 0  # the fd stays with its owner
    finally:
        rx.close()
        tx.close()


def test_too_long_datagrams_are_dropped_and_counted_never_cut(recv_mod: ModuleType) -> None:
    rx, tx = udp_pair()
    try:
        tx.send(b"short")
        tx.send(b"y" * 101)
        tx.send(b"z" * 100)
        r = recv_mod.BatchReceiver(rx.fileno(), 8, 100)
        assert r.recv_batch() == [b"short", b"z" * 100]
        assert r.truncated == 1
    finally:
        rx.close()
        tx.close()


def test_unix_datagrams(recv_mod: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for i in range(5):
            tx.sendto(b"rec%d" % i, path)
        r = recv_mod.BatchReceiver(rx.fileno(), 64, 65536)
        assert r.recv_batch() == [b"rec%d" % i for i in range(5)]
    finally:
        rx.close()
        tx.close()


def test_errors_are_counted_not_raised(recv_mod: ModuleType) -> None:
    # A stream socket that is not connected: recv fails with ENOTCONN, not EAGAIN.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        r = recv_mod.BatchReceiver(s.fileno(), 4, 64)
        assert r.recv_batch() == []
        assert r.errors == 1
    finally:
        s.close()


def test_bad_arguments(recv_mod: ModuleType) -> None:
    with pytest.raises(ValueError):
        recv_mod.BatchReceiver(0, 0, 10)
    with pytest.raises(ValueError):
        recv_mod.BatchReceiver(0, 4, 0)
