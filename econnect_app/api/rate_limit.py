"""A rate limit per key set on /api/v1, counted with the ``limits`` library.

Moving window (an exact count over the last period). Storage: Redis when ``REFLEX_REDIS_URL`` is
set, so every worker shares the counts (each hit is one atomic Lua script), memory otherwise (one
process). The limits come from the ``api_rate_limit`` setting (``ECONNECT_API_RATE_LIMIT``).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

# The same prefix as services/throttle.py: one namespace for the app's counters in Redis.
REDIS_KEY_PREFIX = "econnect:limits"


def limits_storage(redis_url: str | None, *, key_prefix: str = REDIS_KEY_PREFIX) -> Storage:
    """Where counts are kept: Redis at ``redis_url`` (shared by every worker; keys start with
    ``key_prefix``), else this process's memory."""
    if redis_url:
        return storage_from_string(redis_url, key_prefix=key_prefix)
    return storage_from_string("memory://")


class KeySetRateLimit:
    """Calls per key set within the limits of ``notation`` (e.g. "300/minute; 5000/hour")."""

    def __init__(self, notation: str, storage: Storage) -> None:
        self.items: list[RateLimitItem] = parse_many(notation)
        self._limiter = MovingWindowRateLimiter(storage)

    def hit(self, key_set_id: int) -> int | None:
        """Count one call; None when it is allowed, else the whole seconds until the next call is
        (nothing is counted then)."""
        key = ("api", "key_set", str(key_set_id))
        refused = [item for item in self.items if not self._limiter.test(item, *key)]
        if not refused:
            refused = [item for item in self.items if not self._limiter.hit(item, *key)]
        if not refused:
            return None
        reset = max(self._limiter.get_window_stats(item, *key).reset_time for item in refused)
        return max(1, math.ceil(reset - time.time()))
