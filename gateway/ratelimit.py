"""Token-bucket rate limiting, per process (like GoClaw's and Mission Control's in-memory backend).

A limit of ``rpm`` requests per minute refills continuously and allows ``burst`` at once.
"""

from __future__ import annotations

import math
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """Buckets keyed by any string (client IP, credential id, user id)."""

    def __init__(self, rpm: int, burst: int) -> None:
        self.rpm = rpm
        self.burst = max(1, burst)
        self._rate = rpm / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rpm > 0

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

    @staticmethod
    def retry_after_seconds(wait: float) -> int:
        return max(1, math.ceil(wait))
