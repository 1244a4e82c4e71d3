"""Token-bucket rate limiting, per process (like GoClaw's and Mission Control's in-memory backend).

A limit of ``rpm`` requests per minute refills continuously and allows ``burst`` at once. The
limiters are built once by the composition root and handed to whoever checks them; a live
configuration change re-configures them in place (``configure``), so every holder sees it.
"""

from __future__ import annotations

import math
import time

from clawgate.errors import ResourceExhausted

__all__ = ["CHAT_BURST", "RateLimiter", "exhausted"]

CHAT_BURST = 5
"""Burst of the chat limiter (``gateway.rate_limit_rpm``: chat.send and OpenAI exchanges)."""


def exhausted(wait: float) -> ResourceExhausted:
    """The refusal of a caller who must wait ``wait`` seconds (429, ``Retry-After`` in whole seconds)."""
    seconds = max(1, math.ceil(wait))
    return ResourceExhausted(seconds=seconds, retry_after_ms=seconds * 1000)


class RateLimiter:
    """Buckets keyed by any string (client IP, credential id, user id)."""

    def __init__(self, rpm: int, burst: int) -> None:
        self.configure(rpm, burst)

    def configure(self, rpm: int, burst: int) -> None:
        """Apply a new limit; every bucket starts full again."""
        self.rpm = rpm
        self.burst = max(1, burst)
        self._rate = rpm / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rpm > 0

    def check(self, key: str) -> None:
        """Take one token for ``key``. Raises: ResourceExhausted (with the wait) when none is left."""
        wait = self.hit(key)
        if wait:
            raise exhausted(wait)

    def hit(self, key: str) -> float:
        """Take one token for ``key``. Returns 0.0 when allowed, else seconds until one is free."""
        if self.rpm <= 0:
            return 0.0
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._sweep(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate

    def _sweep(self, now: float) -> None:
        # Drop buckets idle long enough to be full again, at most once a minute.
        if now - self._last_sweep < 60.0:
            return
        self._last_sweep = now
        full_after = self.burst / self._rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
