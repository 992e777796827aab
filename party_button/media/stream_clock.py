"""When each byte of a Snapcast pipe stream enters the stream, in the server's time.

snapserver 0.26 reads its PCM pipe one chunk (``chunk_ms``) at a time on its own
steady clock and stamps chunk *k* with ``first read - chunk + k * chunk``. As long as the pipe
never runs dry, byte *b* is therefore stamped ``A + b / byte_rate`` for one constant *A*, the
stream's *origin*. The feeder sees the server's reads (the bytes it wrote less those still
unread in the pipe); each time it sees the count grow, ``seen - consumed / byte_rate`` is an
upper bound of *A*, tight when the read was seen at once, and the smallest recent bound is the
estimate. The server shares the machine's monotonic clock (``CLOCK_MONOTONIC``, which is
``time.monotonic``), so stream times are plain monotonic seconds on the leader.

A server that falls behind by more than its tolerance (a machine starved of CPU) restarts its
timestamps later: from that byte on the origin is later. When every one of the last
:data:`SETTLE` bounds is later than the origin by ``jump``, the clock starts a new segment
at the first of them and counts a resync; bytes before it keep their old origin.
"""

from __future__ import annotations

import collections

WINDOW = 250  # reads whose smallest bound is the origin: 12.5 s of 50 ms chunks
SETTLE = 5  # reads that must all be late to tell a restart of the server's timestamps
# Seconds later than the origin that count as late, by default. A restart of snapserver's
# timestamps is always later than that: it starts again a buffer of its own (50 ms) after the
# late read; a feeder that looks late (a busy machine) is rarely that late five reads in a row.
JUMP = 0.03
MAX_SEGMENTS = 16


class StreamClock:
    """The estimate of the origin from the server's reads, and stream times from it."""

    def __init__(self, byte_rate: int, *, jump: float = JUMP) -> None:
        self.byte_rate = byte_rate
        self.jump = jump
        self._recent: collections.deque[tuple[int, float]] = collections.deque(maxlen=WINDOW)
        self._segments: collections.deque[int] = collections.deque([0], maxlen=MAX_SEGMENTS)
        self._origins: collections.deque[float] = collections.deque(maxlen=MAX_SEGMENTS)
        self._consumed = 0
        self.resyncs = 0

    def saw(self, consumed: int, at: float) -> bool:
        """The server has read ``consumed`` bytes in all, as seen at ``at``; ``True`` when
        that is more than before (a read happened)."""
        if consumed <= self._consumed:
            return False
        self._consumed = consumed
        self._recent.append((consumed, at - consumed / self.byte_rate))
        if not self._origins:
            self._origins.append(self._recent[-1][1])
        origin = min(bound for _, bound in self._recent)
        late = list(self._recent)[-SETTLE:]
        if len(late) == SETTLE and all(bound > self._origins[-1] + self.jump for _, bound in late):
            self.resyncs += 1
            self._recent = collections.deque(late, maxlen=WINDOW)
            self._segments.append(late[0][0] - self._chunk_before(late))
            origin = min(bound for _, bound in late)
            self._origins.append(origin)
        self._origins[-1] = origin
        return True

    @staticmethod
    def _chunk_before(late: list[tuple[int, float]]) -> int:
        """The bytes of one read: the first late read began this much before its count."""
        return late[1][0] - late[0][0]

    def segment_start(self) -> int:
        """The first byte of the latest segment (0 until the server restarted)."""
        return self._segments[-1]

    @property
    def consumed(self) -> int:
        """The bytes the server has read so far."""
        return self._consumed

    @property
    def known(self) -> bool:
        """Whether a read has been seen."""
        return bool(self._origins)

    def origin(self, offset: int | None = None) -> float:
        """The stream time of byte 0 for the segment holding ``offset`` (the latest: None)."""
        if offset is not None:
            for start, origin in zip(
                reversed(self._segments), reversed(self._origins), strict=True
            ):
                if offset >= start:
                    return origin
        return self._origins[-1]

    def stream_time(self, offset: int) -> float:
        """When byte ``offset`` enters the stream (its timestamp in the server's time)."""
        return self.origin(offset) + offset / self.byte_rate
