"""Batched datagram receive: the pure-Python twin (the specification).

uvloop hands a DatagramProtocol one datagram per callback, one recvfrom each. At hundreds of
thousands of events a second that per-datagram cost is as large as all of decoding and
routing, so the datagram ingest reads in batches instead: on readability it asks for up to
`max_batch` datagrams at once (recvmmsg(2) in the compiled twin) and feeds them in a loop.

    BatchReceiver(fd, max_batch=64, bufsize=65536)
    recv_batch() -> list[bytes]   # up to max_batch datagrams; [] when none is waiting
    truncated: int                # datagrams longer than bufsize, dropped (counted here)
    errors: int                   # receive errors other than "nothing waiting"

A datagram longer than `bufsize` is never returned cut: it is dropped and counted, so the
caller can report it as oversized.
"""

from __future__ import annotations

import errno
import socket

_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class BatchReceiver:
    def __init__(self, fd: int, max_batch: int = 64, bufsize: int = 65536) -> None:
        if max_batch < 1 or bufsize < 1:
            raise ValueError("max_batch and bufsize must be positive")
        # A socket object over the same fd, without owning it (the caller closes the fd).
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self.max_batch = max_batch
        self.bufsize = bufsize
        self.truncated = 0
        self.errors = 0

    def recv_batch(self) -> list[bytes]:
        out: list[bytes] = []
        recvmsg = self._sock.recvmsg
        size = self.bufsize
        for _ in range(self.max_batch):
            try:
                data, _anc, flags, _addr = recvmsg(size)
            except OSError as e:
                if e.errno not in _AGAIN:
                    self.errors += 1
                break
            if flags & socket.MSG_TRUNC:
                self.truncated += 1
                continue
            out.append(data)
        return out

    def close(self) -> None:
        self._sock.detach()  # leave the fd to its owner

    def __del__(self) -> None:
        # Dropped without close(): the socket object would close the caller's fd (and warn);
        # the compiled twin never touches it.
        sock = getattr(self, "_sock", None)  # absent when __init__ raised
        if sock is not None:
            sock.detach()
