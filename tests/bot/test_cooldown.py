from __future__ import annotations

from bot.cooldown import Cooldown


def test_cooldown_is_per_member_and_expires() -> None:
    now = [100.0]
    cooldown = Cooldown(5.0, clock=lambda: now[0])
    assert cooldown.retry_after(1) == 0.0
    assert cooldown.retry_after(1) == 5.0
    assert cooldown.retry_after(2) == 0.0  # others are not held up
    now[0] += 3.0
    assert cooldown.retry_after(1) == 2.0
    now[0] += 2.0
    assert cooldown.retry_after(1) == 0.0


def test_zero_seconds_disables_the_cooldown() -> None:
    cooldown = Cooldown(0.0)
    assert all(cooldown.retry_after(1) == 0.0 for _ in range(10))
