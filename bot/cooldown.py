"""Per-member cooldown shared by /ask and mentions."""

from __future__ import annotations

import time
from collections.abc import Callable


class Cooldown:
    """Allows one question per member every `seconds`; tells the rest how long to wait."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, max_tracked: int = 10_000) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}
        self._warned: set[int] = set()
        self._max_tracked = max_tracked

    def retry_after(self, user_id: int) -> float:
        """0 when the member may ask now (and records the question), else seconds left to wait."""
        if self.seconds <= 0:
            return 0.0
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            return self.seconds - (now - last)
        if len(self._last) >= self._max_tracked:
            self._forget_expired(now)
        self._last[user_id] = now
        self._warned.discard(user_id)
        return 0.0

    def first_warning(self, user_id: int) -> bool:
        """True once per cooldown window, so a burst of messages gets one notice, not one each."""
        if user_id in self._warned:
            return False
        self._warned.add(user_id)
        return True

    def _forget_expired(self, now: float) -> None:
        self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
        self._warned &= set(self._last)
