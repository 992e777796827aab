"""A room's estimate of the leader's clock, from time requests over the network.

Snapcast's clients keep their own estimate of the server's clock and do not share it, so
each room learns the leader's clock itself, the way NTP and snapclient do: the room sends its
time ``t1``, the leader answers with its own ``t2``, the answer arrives at ``t3``. The offset
(leader minus room) is ``t2 - (t1 + t3) / 2``, wrong by at most half the round trip; of the
recent requests, the one with the shortest round trip gives the estimate.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

WINDOW = 60  # requests remembered: a minute at one a second


@dataclass(frozen=True)
class Sample:
    """One time request: its round trip and the offset it gives (seconds)."""

    round_trip: float
    offset: float


class OffsetEstimator:
    """The leader's clock minus this room's, from the fastest recent time request."""

    def __init__(self, window: int = WINDOW) -> None:
        self._samples: collections.deque[Sample] = collections.deque(maxlen=window)

    def add(self, sent: float, leader: float, received: float) -> Sample:
        """A request sent at ``sent`` (room clock), answered with ``leader``, back at
        ``received``."""
        sample = Sample(received - sent, leader - (sent + received) / 2)
        if sample.round_trip >= 0:
            self._samples.append(sample)
        return sample

    @property
    def known(self) -> bool:
        """Whether an answer has come."""
        return bool(self._samples)

    def best(self) -> Sample:
        """The sample of the fastest recent request."""
        return min(self._samples, key=lambda sample: sample.round_trip)

    @property
    def offset(self) -> float:
        """Leader minus room, in seconds."""
        return self.best().offset

    @property
    def error_bound(self) -> float:
        """How far off :attr:`offset` can be: half the best round trip."""
        return self.best().round_trip / 2

    def clear(self) -> None:
        """Forget every sample (the leader restarted: its clock may be another)."""
        self._samples.clear()
