"""Each event handled once: ids seen again within the hour are recognised, memory stays bounded."""

from __future__ import annotations

from citebot.bot.seen import SeenEvents


def test_an_id_seen_again_within_the_window_is_not_new() -> None:
    now = [0.0]
    seen = SeenEvents(window=3600, clock=lambda: now[0])
    assert seen.first_time(1) and not seen.first_time(1)
    now[0] = 3601
    assert seen.first_time(1)  # an hour later it is new again


def test_memory_is_bounded() -> None:
    seen = SeenEvents(limit=100)
    for event_id in range(1000):
        assert seen.first_time(event_id)
    assert len(seen) <= 100
