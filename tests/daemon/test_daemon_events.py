"""The daemon's event queue wakes its loop by a deadline, not after it."""

from __future__ import annotations

import math
import time

import pytest

from party_button.daemon.events import EventQueue


@pytest.mark.parametrize("timeout", [0.0037, 0.0104, 0.0004, 0.0])
def test_the_loop_wakes_by_its_deadline_not_a_millisecond_after(
    timeout: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = EventQueue()
    asked: list[float | None] = []
    select = queue._selector.select

    def recording_select(wait: float | None = None) -> list:
        asked.append(wait)
        return select(wait)

    monkeypatch.setattr(queue._selector, "select", recording_select)
    try:
        started = time.monotonic()
        assert queue.wait(timeout) == []
        waited = time.monotonic() - started
    finally:
        queue.close()
    (wait,) = asked
    # the selector waits whole milliseconds, rounding up: what it was asked ends by the deadline
    assert wait is not None and math.ceil(round(wait * 1e3, 6)) * 1e-3 <= timeout + 1e-9
    if timeout < 1e-3:  # the selector only looked: the queue slept the rest itself
        assert wait == 0.0 and waited >= timeout
