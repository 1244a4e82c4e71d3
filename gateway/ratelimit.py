"""Token-bucket rate limiting, per process (like GoClaw's and Mission Control's in-memory backend).

A limit of ``rpm`` requests per minute refills continuously and allows ``burst`` at once. The
limiters are built once by the composition root and handed to whoever checks them; a live
configuration change re-configures them in place (``configure``), so every holder sees it.

The gateway's operator (the gateway token, development mode) is not throttled while
``exempt_operator`` holds (``rate_limits.exempt_operator``); a caller may bring its own limit
(an API key's ``rate_limit_rpm``), kept in a bucket of its own.
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

    def __init__(self, rpm: int, burst: int, *, exempt_operator: bool = False) -> None:
        self.configure(rpm, burst, exempt_operator=exempt_operator)

    def configure(self, rpm: int, burst: int, *, exempt_operator: bool | None = None) -> None:
        """Apply a new limit (and, when given, the operator's exemption); every bucket starts full again."""
        if exempt_operator is not None:
            self.exempt_operator = exempt_operator
        self.rpm = rpm
        self.burst = max(1, burst)
        self._rate = rpm / 60.0
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, stamp, rate)
        self._last_sweep = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rpm > 0

    def check(self, key: str, *, operator: bool = False, rpm: int | None = None) -> None:
        """Take one token for ``key``: nothing for the operator while exempt; ``rpm`` is the caller's
        own limit (0: none), else the limiter's. Raises: ResourceExhausted (with the wait) when none
        is left."""
        if operator and self.exempt_operator:
            return
        wait = self.hit(key, rpm)
        if wait:
            raise exhausted(wait)

    def hit(self, key: str, rpm: int | None = None) -> float:
        """Take one token for ``key`` (at ``rpm``, else the limiter's rate). Returns 0.0 when allowed,
        else seconds until one is free."""
        rate = self._rate if rpm is None else rpm / 60.0
        if rate <= 0:
            return 0.0
        if rpm is not None:
            key = f"{key}@{rpm}"  # its own bucket: a changed limit starts afresh
        now = time.monotonic()
        tokens, stamp, _ = self._buckets.get(key, (float(self.burst), now, rate))
        tokens = min(float(self.burst), tokens + (now - stamp) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now, rate)
            self._sweep(now)
            return 0.0
        self._buckets[key] = (tokens, now, rate)
        return (1.0 - tokens) / rate

    def _sweep(self, now: float) -> None:
        # Drop buckets idle long enough to be full again, at most once a minute.
        if now - self._last_sweep < 60.0:
            return
        self._last_sweep = now
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / v[2]}
