"""A request rate limit per API token: token buckets kept in the web process.

An integration that loops too fast (a spreadsheet macro retrying without a pause) slows
down everybody's pages on the same process; each token gets ``per_minute`` requests a minute
on average, with bursts up to the same number, and then 429 with ``Retry-After``. The
buckets live in this process (each web process of a multi-machine setup counts its own) and
follow the monotonic clock, not the app's clock (which tests and simulations fix).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

MAX_KEYS = 10_000  # tokens remembered; the least recently seen is forgotten (a full bucket)


class RateLimiter:
    def __init__(self, *, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # level, at
        self._lock = threading.Lock()  # API dependencies run in the thread pool

    def wait(self, key: str) -> int:
        """Take one request from ``key``'s bucket: 0 when allowed, else the whole seconds to
        wait before the next request is."""
        if self.per_minute <= 0:  # no limit
            return 0
        rate = self.per_minute / 60.0  # refilled per second
        now = self.clock()
        with self._lock:
            level, at = self._buckets.pop(key, (float(self.per_minute), now))
            level = min(float(self.per_minute), level + (now - at) * rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                wait = 0
            else:
                self._buckets[key] = (level, now)
                wait = max(1, math.ceil((1.0 - level) / rate))
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return wait
