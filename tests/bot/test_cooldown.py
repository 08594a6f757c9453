from __future__ import annotations

from citebot.bot.cooldown import Cooldown


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


def test_a_burst_gets_one_warning_per_window() -> None:
    now = [0.0]
    cooldown = Cooldown(5.0, clock=lambda: now[0])
    assert cooldown.retry_after(1) == 0.0
    warnings = [cooldown.first_warning(1) for _ in range(200) if cooldown.retry_after(1)]
    assert warnings.count(True) == 1
    now[0] += 5.0
    assert cooldown.retry_after(1) == 0.0
    assert cooldown.retry_after(1) and cooldown.first_warning(1)  # a new window warns again
