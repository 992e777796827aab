"""The relay guard with a fake clock: minimum intervals, max on-time and rest, force-off."""

from __future__ import annotations

from itertools import pairwise

import pytest

from party_button.lights.relay_guard import RelayGuard, guards_for
from party_button.testing.lights import RELAYS


def test_first_switch_is_immediate() -> None:
    guard = RelayGuard(min_interval=0.25)
    assert guard.request(True, now=100.0) is True
    assert guard.next_deadline(100.0) is None


def test_a_change_too_soon_is_deferred_until_the_interval_has_passed() -> None:
    guard = RelayGuard(min_interval=0.25)
    guard.request(True, now=10.0)
    assert guard.request(False, now=10.1) is True
    assert guard.wanted is False
    assert guard.next_deadline(10.1) == 10.25
    assert guard.update(10.2) is True
    assert guard.update(10.25) is False
    assert guard.next_deadline(10.25) is None


def test_asking_back_for_the_current_level_cancels_a_deferred_change() -> None:
    guard = RelayGuard(min_interval=0.25)
    guard.request(True, now=0.0)
    guard.request(False, now=0.1)
    assert guard.request(True, now=0.2) is True
    assert guard.next_deadline(0.2) is None
    assert guard.update(0.3) is True


def test_deadline_computed_in_floats_is_met_at_itself() -> None:
    guard = RelayGuard(min_interval=0.2)
    guard.request(True, now=0.1)
    guard.request(False, now=0.15)
    deadline = guard.next_deadline(0.15)
    assert deadline == pytest.approx(0.3)
    assert guard.update(deadline) is False
    assert guard.update(0.3) is False


def test_a_late_update_switches_when_called() -> None:
    guard = RelayGuard(min_interval=0.25)
    guard.request(True, now=0.0)
    guard.request(False, now=0.1)
    assert guard.update(5.0) is False
    assert guard.request(True, now=5.1) is False  # the late switch at 5.0 counts
    assert guard.next_deadline(5.1) == 5.25


def test_strobing_requests_never_switch_faster_than_the_interval() -> None:
    guard = RelayGuard(min_interval=0.25)
    switches = []
    level = False
    for tick in range(200):  # asks to toggle every 10 ms for two seconds
        now = tick * 0.01
        driven = guard.request(tick % 2 == 0, now)
        if driven != level:
            switches.append(now)
            level = driven
    gaps = [later - earlier for earlier, later in pairwise(switches)]
    assert len(switches) >= 7
    assert min(gaps) >= 0.25 - 1e-9


def test_max_on_time_forces_off_then_rests() -> None:
    guard = RelayGuard(min_interval=0.25, max_on_time=20.0, rest_time=40.0)
    assert guard.request(True, now=0.0) is True
    assert guard.next_deadline(0.0) == 20.0
    assert guard.update(19.9) is True
    assert guard.update(20.0) is False
    assert guard.resting_until() == 60.0
    assert guard.request(True, now=30.0) is False
    assert guard.next_deadline(30.0) == 60.0
    assert guard.update(59.9) is False
    assert guard.update(60.0) is True  # still wanted on: back on once rested, with a fresh budget
    assert guard.resting_until() is None
    assert guard.next_deadline(60.0) == 80.0


def test_on_time_adds_up_until_a_full_rest() -> None:
    guard = RelayGuard(min_interval=0.25, max_on_time=20.0, rest_time=40.0)
    guard.request(True, now=0.0)
    guard.request(False, now=15.0)
    assert guard.request(True, now=16.0) is True
    assert guard.next_deadline(16.0) == 21.0  # only 5 s of the 20 s budget left
    assert guard.update(21.0) is False
    assert guard.resting_until() == 61.0


def test_an_off_as_long_as_the_rest_time_renews_the_budget() -> None:
    guard = RelayGuard(min_interval=0.25, max_on_time=20.0, rest_time=40.0)
    guard.request(True, now=0.0)
    guard.request(False, now=15.0)
    guard.request(True, now=55.0)
    assert guard.next_deadline(55.0) == 75.0


def test_force_off_is_immediate_even_inside_the_interval() -> None:
    guard = RelayGuard(min_interval=0.25)
    guard.request(True, now=0.0)
    guard.force_off(0.05)
    assert guard.is_on is False
    assert guard.wanted is False
    assert guard.next_deadline(0.05) is None
    # The forced switch counts: switching on again waits for the interval after it.
    assert guard.request(True, now=0.1) is False
    assert guard.next_deadline(0.1) == pytest.approx(0.3)


def test_force_off_does_not_cut_a_rest_short() -> None:
    guard = RelayGuard(min_interval=0.25, max_on_time=20.0, rest_time=40.0)
    guard.request(True, now=0.0)
    guard.update(20.0)
    guard.force_off(25.0)
    assert guard.request(True, now=30.0) is False
    assert guard.next_deadline(30.0) == 60.0


def test_force_off_when_already_off_changes_nothing() -> None:
    guard = RelayGuard(min_interval=0.25)
    guard.force_off(1.0)
    assert guard.request(True, now=1.0) is True


def test_guards_for_takes_each_relays_limits() -> None:
    guards = guards_for(RELAYS)
    assert list(guards) == ["lights", "beacon", "fog", "strobe"]
    assert guards["strobe"].min_interval == 0.1
    assert (guards["fog"].max_on_time, guards["fog"].rest_time) == (20.0, 40.0)
    assert guards["lights"].max_on_time is None
