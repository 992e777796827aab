"""Repeated log lines: one a minute per kind, and the count of those left out."""

from __future__ import annotations

import logging

from party_button.log_limit import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_a_minute_per_kind_and_the_next_says_how_many_were_left_out(caplog):
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("party_button.test"), 60.0, clock)
    with caplog.at_level(logging.INFO, logger="party_button.test"):
        for number in range(2000):
            limited.warning("wrong PIN", "refused a wrong PIN from %s", f"10.0.0.{number % 200}")
            limited.warning("host", "refused an unknown host from %s", "10.0.0.1")
            clock.now += 0.01
        assert [r.getMessage() for r in caplog.records] == [
            "refused a wrong PIN from 10.0.0.0",
            "refused an unknown host from 10.0.0.1",
        ]
        clock.now += 60
        limited.warning("wrong PIN", "refused a wrong PIN from %s", "10.0.0.9")
        limited.flush()
    assert [r.getMessage() for r in caplog.records[2:]] == [
        "refused a wrong PIN from 10.0.0.9 (and 1999 more like it in the last 80 s)",
        "host: 1999 more in the 80 s after the last one logged",
    ]
