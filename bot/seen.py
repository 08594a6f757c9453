"""Events Discord delivers twice (a resumed gateway, a retried webhook) are handled once."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class SeenEvents:
    """Ids of messages, interactions and threads handled in the last `window` seconds, at most `limit` of them."""

    def __init__(
        self, window: float = 3600.0, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.limit = limit
        self._clock = clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, event_id: Hashable) -> bool:
        """True the first time an id is seen within the window; records it."""
        now = self._clock()
        while self._seen and (len(self._seen) >= self.limit or now - next(iter(self._seen.values())) > self.window):
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True
