"""The work of a pool of VM threads: calls any of them may run, and work for each of them.

Event calls go to one queue. The first VM's thread always serves it; the others join in only
while some VM has been in one call for a watchdog tick or more (`set_busy`, from
interrupt.Watchdog), so a call that waits (on HTTP, up to its time limit) or computes at
length holds only its own VM, while short calls keep the cheap path of one thread that
hands back its results in batches. A call carries a key (the API it belongs to), and one
key never has more than `cap` calls running: a thread that takes a call over its key's cap
sets it aside for the next thread that ends a call of that key. With cap = VMs - 1, one
API's slow calls always leave a VM to the others (docs/compatibility.md, JavaScript
handlers). The queue is a `queue.SimpleQueue` and the cap takes no lock.

Build-time work runs on every VM (a script is loaded in each): `broadcast` queues one copy
per thread, with every thread serving, and a thread that ran its copy waits at a barrier
until every thread has run theirs, so each takes exactly one. Stopping is one STOP per
thread, after what is queued.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

OWN: Any = object()  # `finished` when the last job was not a call (nothing to count down)
STOP: Any = object()
KEY = 4  # a call is (fn, args, future, loop, key)
_POLL = 0.05  # how often a helper thread waiting on the queue checks it is still wanted


class Broadcast:
    """One function for every thread of the pool; futures[i] is thread i's result."""

    def __init__(self, workers: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.futures: list[concurrent.futures.Future[Any]] = [
            concurrent.futures.Future() for _ in range(workers)
        ]
        self.barrier = threading.Barrier(workers)


class JobQueue:
    """Calls and broadcasts for `workers` threads. The cap needs no lock: each key has a deque
    of `cap` tokens and a deque of calls set aside, whose appends and pops are atomic; whoever
    adds a token or a call then pairs what it can (`_pair`), so neither waits while the other
    is there."""

    def __init__(self, workers: int, cap: int) -> None:
        self.workers = workers
        self.cap = max(1, cap) if workers > 1 else 0  # 0: one VM, nothing to share
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._tokens: dict[Hashable, deque[None]] = {}
        self._aside: dict[Hashable, deque[Any]] = {}
        self.closed = False
        self._all = threading.Event()  # set: every thread serves the queue
        self._why = threading.Lock()
        self._busy = False
        self._forced = 0  # broadcasts under way (and 1 once closed)

    def set_busy(self, busy: bool) -> None:
        """Some VM has been in one call for a while (True) or none is (False)."""
        with self._why:
            self._busy = busy
            self._update()

    def _force(self, n: int) -> None:
        with self._why:
            self._forced += n
            self._update()

    def _update(self) -> None:
        if self._busy or self._forced:
            self._all.set()
        else:
            self._all.clear()

    def put(self, job: Any) -> None:
        """A call, (fn, args, future, loop, key), for any thread."""
        self._q.put(job)

    def broadcast(self, fn: Callable[..., Any], *args: Any) -> list[concurrent.futures.Future[Any]]:
        """`fn(owner, *args)` on every thread; waits for every result (or error)."""
        b = Broadcast(self.workers, fn, args)
        self._force(1)
        try:
            for _ in range(self.workers):
                self._q.put(b)
            concurrent.futures.wait(b.futures)
        finally:
            self._force(-1)
        return b.futures

    def close(self) -> None:
        """Each thread stops after what was queued before (nothing new may be put)."""
        self.closed = True
        self._force(1)
        for _ in range(self.workers):
            self._q.put(STOP)

    def get(self, worker: int, finished: Hashable, block: bool) -> Any:
        """The next job for thread `worker`. `finished` is the key of the call it just ran
        (OWN if none), whose token it gives back. None if there is nothing and not `block`."""
        if self.cap and finished is not OWN:
            aside = self._aside[finished]
            if aside:  # (each check is redone by the pop: another thread may be quicker)
                try:
                    return aside.popleft()  # the same key goes on with the same token
                except IndexError:
                    pass
            self._tokens[finished].append(None)
            if aside:
                job = self._pair(finished)
                if job is not None:
                    return job
        while True:
            if worker and not self._all.is_set():  # the first thread copes alone
                if not block:
                    return None
                self._all.wait()
            try:
                job = self._q.get(block, _POLL if worker else None)
            except queue.Empty:
                if not block:
                    return None
                continue  # a helper looks at the gate again
            if not self.cap or type(job) is not tuple:
                return job
            key = job[KEY]
            tokens = self._tokens.get(key)
            if tokens is None:  # a new key: its aside deque first, others look for tokens
                self._aside.setdefault(key, deque())
                tokens = self._tokens.setdefault(key, deque([None] * self.cap))
            if tokens:
                try:
                    tokens.pop()
                    return job
                except IndexError:
                    pass
            self._aside[key].append(job)  # at its cap: for the next thread that ends one
            job = self._pair(key)
            if job is not None:
                return job

    def _pair(self, key: Hashable) -> Any:
        """A call set aside with a free token of its key, if both are there (else None)."""
        tokens, aside = self._tokens[key], self._aside[key]
        while aside:
            try:
                tokens.pop()
            except IndexError:
                return None  # a thread still runs one: it takes the call when it ends
            try:
                return aside.popleft()
            except IndexError:
                tokens.append(None)  # another thread took it meanwhile: look again
        return None
