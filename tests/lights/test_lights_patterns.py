"""Golden timelines of every pattern, walked by the patterns' own next_change."""

from __future__ import annotations

from itertools import pairwise

import pytest

from party_button.lights.patterns import Alternate, BeatFlash, Blink, Chase, Sparkle, Steady
from party_button.testing.lights import Grid, changes, steady_grid


def lit(timeline: list[tuple[float, dict[str, bool]]]) -> list[tuple[float, str]]:
    """Each change as ``(position, the names that are on, joined by '+')``."""
    return [
        (round(position, 9), "+".join(name for name, on in states.items() if on))
        for position, states in timeline
    ]


def test_steady_is_on_forever() -> None:
    steady = Steady(("lights", "fog"))
    assert steady.states(0.0, None) == {"lights": True, "fog": True}
    assert steady.states(1e6, steady_grid()) == {"lights": True, "fog": True}
    assert steady.next_change(0.0, None) is None
    assert steady.shortest_switch() is None


def test_blink_golden_timeline() -> None:
    blink = Blink(("beacon",), rate_hz=2.0)
    assert lit(changes(blink, None, 2.0)) == [
        (0.0, "beacon"),
        (0.25, ""),
        (0.5, "beacon"),
        (0.75, ""),
        (1.0, "beacon"),
        (1.25, ""),
        (1.5, "beacon"),
        (1.75, ""),
        (2.0, "beacon"),
    ]
    assert blink.shortest_switch() == 0.25


def test_blink_with_duty_and_origin_starts_at_its_origin() -> None:
    strobe = Blink(("strobe",), rate_hz=4.0, duty=0.2, origin=1.0)
    assert lit(changes(strobe, None, 1.6)) == [
        (0.0, "strobe"),
        (0.05, ""),
        (0.25, "strobe"),
        (0.3, ""),
        (0.5, "strobe"),
        (0.55, ""),
        (0.75, "strobe"),
        (0.8, ""),
        (1.0, "strobe"),
        (1.05, ""),
        (1.25, "strobe"),
        (1.3, ""),
        (1.5, "strobe"),
        (1.55, ""),
    ]
    assert strobe.shortest_switch() == pytest.approx(0.05)


def test_blink_is_exact_at_boundaries_that_floats_cannot_hit() -> None:
    blink = Blink(("lights",), rate_hz=10.0, duty=0.5)
    # 0.3 / 0.1 is 2.9999999999999996 in floats: still the start of the fourth flash.
    assert blink.states(0.3, None) == {"lights": True}
    assert blink.next_change(0.3, None) == pytest.approx(0.35)
    assert blink.states(0.35, None) == {"lights": False}
    assert blink.next_change(0.35, None) == pytest.approx(0.4)
    assert blink.states(0.7, None) == {"lights": True}


def test_chase_moves_one_relay_at_a_time() -> None:
    chase = Chase(("a", "b", "c"), rate_hz=4.0)
    assert lit(changes(chase, None, 1.0)) == [
        (0.0, "a"),
        (0.25, "b"),
        (0.5, "c"),
        (0.75, "a"),
        (1.0, "b"),
    ]
    assert chase.shortest_switch() == 0.25


def test_chase_of_one_relay_is_steady() -> None:
    chase = Chase(("a",), rate_hz=4.0)
    assert chase.states(3.3, None) == {"a": True}
    assert chase.next_change(3.3, None) is None
    assert chase.shortest_switch() is None


def test_sparkle_is_reproducible_for_a_seed() -> None:
    relays = ("a", "b", "c")
    first = changes(Sparkle(relays, rate_hz=4.0, seed=7), None, 30.0)
    again = changes(Sparkle(relays, rate_hz=4.0, seed=7), None, 30.0)
    other = changes(Sparkle(relays, rate_hz=4.0, seed=8), None, 30.0)
    assert first == again
    assert first != other


def test_sparkle_changes_only_on_slot_boundaries_and_next_change_is_exact() -> None:
    sparkle = Sparkle(("a", "b"), rate_hz=4.0, density=0.5, seed=3, origin=0.5)
    timeline = changes(sparkle, None, 50.0)
    assert len(timeline) > 20
    for (position, states), (upcoming, next_states) in pairwise(timeline):
        assert (upcoming - 0.5) * 4 == pytest.approx(round((upcoming - 0.5) * 4))
        assert next_states != states
        # No change hides between two reported changes: every slot in between is the same.
        slot = position
        while slot + 0.25 < upcoming - 1e-9:
            slot += 0.25
            assert sparkle.states(slot + 0.1, None) == states


@pytest.mark.parametrize("density", [0.2, 0.5, 0.8])
def test_sparkle_density_is_the_share_of_lit_slots(density: float) -> None:
    sparkle = Sparkle(("a",), rate_hz=1.0, density=density, seed=11)
    lit_slots = sum(sparkle.states(slot + 0.5, None)["a"] for slot in range(4000))
    assert lit_slots / 4000 == pytest.approx(density, abs=0.03)


def test_beat_flashes_on_each_beat() -> None:
    flash = BeatFlash(("lights",))
    assert lit(changes(flash, steady_grid(count=4), 10.0)) == [
        (0.0, ""),
        (0.5, "lights"),
        (0.75, ""),
        (1.0, "lights"),
        (1.25, ""),
        (1.5, "lights"),
        (1.75, ""),
        (2.0, "lights"),
        (2.25, ""),
    ]
    assert flash.shortest_switch() == 0.25  # at the checked 120 BPM


def test_beat_every_nth_with_offset_and_length() -> None:
    flash = BeatFlash(("lights",), every=2, offset=1, length=0.2)
    assert lit(changes(flash, steady_grid(count=6), 10.0)) == [
        (0.0, ""),
        (1.0, "lights"),
        (1.1, ""),
        (2.0, "lights"),
        (2.1, ""),
        (3.0, "lights"),
        (3.1, ""),
    ]
    assert flash.shortest_switch() == pytest.approx(0.1)


def test_beat_flashes_never_merge_when_beats_crowd() -> None:
    grid = Grid(120.0, (0.5, 0.6, 1.5), (0.5,))
    flash = BeatFlash(("lights",), length=0.5)
    assert lit(changes(flash, grid, 10.0)) == [
        (0.0, ""),
        (0.5, "lights"),
        (0.55, ""),  # half of the 0.1 s gap, not half a beat
        (0.6, "lights"),
        (0.85, ""),
        (1.5, "lights"),
        (1.75, ""),  # the last beat flashes half a beat at the song's tempo
    ]


def test_downbeat_flashes_on_every_bar() -> None:
    flash = BeatFlash(("strobe",), length=0.5, downbeats=True)
    assert lit(changes(flash, steady_grid(count=12), 20.0)) == [
        (0.0, ""),
        (0.5, "strobe"),
        (0.75, ""),
        (2.5, "strobe"),
        (2.75, ""),
        (4.5, "strobe"),
        (4.75, ""),
    ]
    assert flash.shortest_switch() == 0.25


def test_downbeat_every_second_bar() -> None:
    flash = BeatFlash(("strobe",), every=2, length=0.25, downbeats=True)
    assert lit(changes(flash, steady_grid(count=16), 20.0)) == [
        (0.0, ""),
        (0.5, "strobe"),
        (0.625, ""),
        (4.5, "strobe"),
        (4.625, ""),
    ]


@pytest.mark.parametrize(
    "grid",
    [None, Grid(120.0, (), ()), Grid(0.0, (0.5, 1.0), (0.5,))],
    ids=["no grid", "no beats", "no tempo"],
)
def test_beat_patterns_without_a_grid_hold_steady_on(grid: Grid | None) -> None:
    for pattern in (
        BeatFlash(("lights",)),
        BeatFlash(("lights",), downbeats=True),
        Alternate((("lights",), ("beacon",))),
    ):
        assert all(pattern.states(position, grid).values() for position in (0.0, 0.7, 99.0))
        assert pattern.next_change(0.7, grid) is None


def test_downbeat_without_downbeats_holds_steady_on() -> None:
    grid = Grid(120.0, (0.5, 1.0, 1.5), ())
    flash = BeatFlash(("strobe",), downbeats=True)
    assert flash.states(0.6, grid) == {"strobe": True}
    assert flash.next_change(0.6, grid) is None


def test_alternate_takes_turns_every_n_beats() -> None:
    alternate = Alternate((("left",), ("right", "top")), every=2)
    assert alternate.relays == ("left", "right", "top")
    assert lit(changes(alternate, steady_grid(count=7), 20.0)) == [
        (0.0, ""),
        (0.5, "left"),
        (1.5, "right+top"),
        (2.5, "left"),
        (3.5, "right+top"),  # the last beat: this turn holds
    ]
    assert alternate.next_change(10.0, steady_grid(count=7)) is None
    assert alternate.shortest_switch() == 1.0


def test_beat_patterns_follow_the_position_not_the_call_order() -> None:
    grid = steady_grid(count=400)
    flash = BeatFlash(("lights",), every=4)
    forward = [flash.states(position, grid) for position in (150.6, 10.6, 150.6, 0.2)]
    assert forward == [{"lights": True}, {"lights": True}, {"lights": True}, {"lights": False}]
    assert flash.next_change(150.6, grid) == 150.75
    assert flash.next_change(10.6, grid) == 10.75
