"""Moving-window rate limits: in this process's memory, or in Redis when `REDIS_URL` is set."""

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from app.core.errors import RateLimitedError
from app.core.metrics import RATE_LIMITED


class RateLimiter:
    """Counts hits per (limit, key) and refuses the one that goes over with a 429.

    In memory each process counts alone; with Redis every instance shares one count, so
    limits hold behind a load balancer.
    """

    def __init__(self, redis_url: str | None = None, key_prefix: str = "rate-limit") -> None:
        self._redis = Redis.from_url(redis_url) if redis_url else None
        storage: Storage = MemoryStorage()
        if self._redis is not None:
            # limits documents `connection_pool` but annotates options as scalars. Our own
            # pool is the one aclose() can close.
            pool: dict[str, Any] = {"connection_pool": self._redis.connection_pool}
            storage = RedisStorage(
                f"async+{redis_url}", implementation="redispy", key_prefix=key_prefix, **pool
            )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, name: str, *key: str) -> None:
        """Count one hit of `limit` (e.g. "10/minute") for `key`; raise RateLimitedError if over.

        `name` says what is limited ("login"): a fixed word, as it labels the refusals metric.
        """
        item: RateLimitItem = parse(limit)
        if not await self._limiter.hit(item, name, *key):
            RATE_LIMITED.labels(limit=name).inc()
            window = await self._limiter.get_window_stats(item, name, *key)
            raise RateLimitedError(retry_after=max(1, math.ceil(window.reset_time - time.time())))

    async def first_refusal(self, limit: str, *key: str) -> bool:
        """True for the first refusal of `limit` for `key` in a window of the limit's length,
        false for the rest: what a refusal sets off happens once, not on every refused hit.
        Without Redis each process counts alone."""
        item: RateLimitItem = parse(limit)
        once = type(item)(1, item.multiples)
        return await self._limiter.hit(once, "refused", *key)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
