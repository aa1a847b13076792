"""Rate-limited log lines for bad input: one line per reason per interval, with a count of
what was suppressed, so a flood of garbage cannot flood the journal or slow the daemon."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._logger = logger
        self._interval = interval
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, reason: str, msg: str, *args: object, **kwargs: object) -> None:
        now = time.monotonic()
        if now < self._next.get(reason, 0.0):
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._next[reason] = now + self._interval
        dropped = self._suppressed.pop(reason, 0)
        if dropped:
            msg += " (%d similar lines suppressed)"
            args = (*args, dropped)
        self._logger.log(level, msg, *args, **kwargs)  # type: ignore[arg-type]
