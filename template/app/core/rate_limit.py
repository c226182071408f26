"""Moving-window rate limits, kept in this process's memory."""

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from app.core.errors import RateLimitedError


class RateLimiter:
    """Counts hits per (limit, key) and refuses the one that goes over with a 429."""

    def __init__(self) -> None:
        # One process only: instances behind a load balancer each keep their own count.
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, limit: str, *key: str) -> None:
        """Count one hit of `limit` (e.g. "10/minute") for `key`; raise RateLimitedError if over."""
        item: RateLimitItem = parse(limit)
        if not await self._limiter.hit(item, *key):
            window = await self._limiter.get_window_stats(item, *key)
            raise RateLimitedError(retry_after=max(1, math.ceil(window.reset_time - time.time())))
