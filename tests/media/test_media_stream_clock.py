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


def test_reads_seen_late_for_a_while_are_no_restart() -> None:
    """A feeder that looks 25 ms late for a quarter of a second (a busy machine) has not
    seen a restart: snapserver's restarts are at least 50 ms later."""
    clock = StreamClock(RATE)
    reads(clock, 100.0, 0, 100)
    for k in range(15):  # 300 ms of reads, each seen 25 ms late
        consumed = clock.consumed + CHUNK
        clock.saw(consumed, 100.0 + consumed / RATE + 0.025 + 0.001 * (k % 2))
    reads(clock, 100.0, clock.consumed, 50, seed=3)
    assert clock.resyncs == 0
    assert abs(clock.origin() - 100.0) < 0.0005
