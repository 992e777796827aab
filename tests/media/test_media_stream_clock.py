"""The stream clock: the origin from reads seen late, and a restart of the server's stamps."""

from __future__ import annotations

import random

from party_button.media.stream_clock import StreamClock

RATE = 176400
CHUNK = 3528  # 20 ms


def reads(clock: StreamClock, origin: float, first: int, count: int, seed: int = 1) -> None:
    """``count`` chunk reads from byte ``first`` of a stream whose byte 0 is at ``origin``,
    each seen 0 to 5 ms after it happened."""
    rng = random.Random(seed)
    for k in range(count):
        consumed = first + (k + 1) * CHUNK
        clock.saw(consumed, origin + consumed / RATE + rng.uniform(0.0, 0.005))


def test_the_origin_is_the_tightest_bound() -> None:
    clock = StreamClock(RATE)
    assert not clock.known
    reads(clock, 100.0, 0, 100)
    assert abs(clock.origin() - 100.0) < 0.0005
    assert abs(clock.stream_time(RATE) - 101.0) < 0.0005
    assert not clock.saw(clock.consumed, 200.0)  # no read: nothing learned
    assert clock.resyncs == 0


def test_a_restart_of_the_servers_stamps_starts_a_new_segment() -> None:
    clock = StreamClock(RATE)
    reads(clock, 100.0, 0, 100)
    split = clock.consumed
    reads(clock, 100.25, split, 100, seed=2)  # the server fell behind: 250 ms later from here
    assert clock.resyncs == 1
    assert abs(clock.stream_time(split - CHUNK) - (100.0 + (split - CHUNK) / RATE)) < 0.0005
    assert abs(clock.stream_time(split + CHUNK) - (100.25 + (split + CHUNK) / RATE)) < 0.0005
