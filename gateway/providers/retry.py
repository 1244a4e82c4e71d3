"""Retries with backoff and jitter for provider calls (GoClaw's ``RetryDo`` facts: 3 attempts,
300 ms x 2^n up to 30 s, +/-10 % jitter, ``Retry-After`` honoured; retry on 429/5xx/network)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from clawgate.errors import UpstreamError

__all__ = ["ProviderError", "RetryPolicy", "with_retries"]

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class ProviderError(UpstreamError):
    """An upstream failure with what the retry and fallback logic need to know."""

    def __init__(self, detail: str, *, status_code: int = 0, retry_after: float | None = None) -> None:
        super().__init__(detail=detail)
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying: rate limits, server errors, timeouts and network failures (status 0)."""
        return self.status_code == 0 or self.status_code in RETRYABLE_STATUS

    @property
    def reason(self) -> str:
        code = self.status_code
        if code in {401, 403}:
            return "auth"
        if code == 429:
            return "rate_limit"
        if code == 404:
            return "model_not_found"
        if code >= 500:
            return "overloaded"
        if code == 0:
            return "timeout"
        return "format"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.3
    max_delay: float = 30.0
    jitter: float = 0.1

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        raw = min(self.base_delay * (2**attempt), self.max_delay)
        return float(raw * (1 + random.uniform(-self.jitter, self.jitter)))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[int, ProviderError], Awaitable[None]] | None = None,
) -> T:
    """Run ``call`` until it succeeds, a non-transient error, or attempts run out.

    Cancellation propagates immediately, also during a backoff sleep.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except ProviderError as exc:
            attempt += 1
            if not exc.transient or attempt >= policy.attempts:
                raise
            if on_retry is not None:
                await on_retry(attempt, exc)
            await asyncio.sleep(policy.delay(attempt - 1, exc.retry_after))
