"""The show runner: golden timelines of shows through the guards, phases, position following."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from party_button.lights.patterns import Blink, Sparkle, Steady
from party_button.lights.relay_guard import guards_for
from party_button.lights.runner import LightShow, Timeline, simulate
from party_button.lights.shows import LightsConfig, Step
from party_button.phase import Phase
from party_button.testing.lights import RELAYS, load_shipped, single_show, steady_grid


@pytest.fixture
def shipped(tmp_path: Path) -> LightsConfig:
    return load_shipped(tmp_path)


def lit(timeline: Timeline) -> list[tuple[float, str]]:
    """Each change as ``(time, the relays that are on, joined by '+')``."""
    return [
        (round(time, 9), "+".join(name for name, on in levels.items() if on))
        for time, levels in timeline
    ]


def spans(timeline: Timeline, relay: str, until: float) -> list[tuple[float, float]]:
    """The ``(on, off)`` times of one relay in a timeline."""
    found: list[tuple[float, float]] = []
    since = None
    for time, levels in timeline:
        if levels[relay] and since is None:
            since = time
        elif not levels[relay] and since is not None:
            found.append((round(since, 9), round(time, 9)))
            since = None
    if since is not None:
        found.append((round(since, 9), until))
    return found


def test_shipped_intro_golden_timeline(shipped: LightsConfig) -> None:
    show = LightShow.for_phase(shipped, Phase.INTRO)
    assert show.name == "intro"
    assert show.duration == 4
    assert lit(simulate(show, 6.0)) == [
        (0.0, "beacon+strobe"),
        (0.125, "beacon"),
        (0.25, ""),
        (0.5, "beacon+strobe"),
        (0.625, "beacon"),
        (0.75, ""),
        (1.0, "beacon+strobe"),
        (1.125, "beacon"),
        (1.25, ""),
        (1.5, "beacon+strobe"),
        (1.625, "beacon"),
        (1.75, ""),
        (2.0, "lights+beacon"),
        (2.25, "lights"),
        (2.5, "lights+beacon"),
        (2.75, "lights"),
        (3.0, "lights+beacon"),
        (3.25, "lights"),
        (3.5, "lights+beacon"),
        (3.75, "lights"),
        (4.0, ""),
    ]


def test_shipped_party_golden_timeline_on_a_beat_grid(shipped: LightsConfig) -> None:
    grid = steady_grid(count=64)  # 120 BPM from 0.5 s, a bar every 2 s
    show = LightShow.for_phase(shipped, Phase.PARTY, "dance.ogg", grid=grid)
    assert show.name == "party"
    timeline = simulate(show, 32.0)
    # Flashes of 0.4 of a beat: 0.2 s, the lights relay's minimum interval.
    assert spans(timeline, "lights", 32.0)[:4] == [
        (0.5, 0.7),
        (1.0, 1.2),
        (1.5, 1.7),
        (2.0, 2.2),
    ]
    assert len(spans(timeline, "lights", 32.0)) == 64
    assert spans(timeline, "strobe", 32.0)[:3] == [(0.5, 0.75), (2.5, 2.75), (4.5, 4.75)]
    assert spans(timeline, "fog", 32.0) == [(10.0, 25.0)]
    assert spans(timeline, "beacon", 32.0) == [(0.0, 32.0)]  # on from the press


def test_shipped_party_without_a_grid_holds_beat_relays_on(shipped: LightsConfig) -> None:
    show = LightShow.for_phase(shipped, Phase.PARTY, "dance.ogg")
    timeline = simulate(show, 30.0)
    assert spans(timeline, "lights", 30.0) == [(0.0, 30.0)]
    assert spans(timeline, "strobe", 30.0) == [(0.0, 30.0)]


def test_shipped_ending_golden_timeline_ends_all_off(shipped: LightsConfig) -> None:
    show = LightShow.for_phase(shipped, Phase.ENDING)
    assert lit(simulate(show, 10.0)) == [
        (0.0, "lights+beacon+fog+strobe"),
        (0.5, "fog"),
        (1.0, "lights+beacon+fog+strobe"),
        (1.5, "fog"),
        (2.0, "lights+beacon+strobe"),
        (2.5, ""),
        (3.0, "lights+beacon+strobe"),
        (3.5, ""),
    ]
    assert show.states_at(4.0) == dict.fromkeys(("lights", "beacon", "fog", "strobe"), False)
    assert show.next_change_after(3.5) is None


def test_song_shows_override_by_file_name(shipped: LightsConfig) -> None:
    grid = steady_grid(count=16)
    show = LightShow.for_phase(shipped, Phase.PARTY, "/music/slow-waltz.ogg", grid=grid)
    assert show.name == "calm"
    assert lit(simulate(show, 10.0)) == [
        (0.0, "lights"),
        (0.5, "lights+beacon"),
        (2.5, "lights+strobe"),
        (4.5, "lights+beacon"),
        (6.5, "lights+strobe"),
    ]


def test_unknown_show_is_refused(shipped: LightsConfig) -> None:
    with pytest.raises(KeyError, match="unknown show 'disco'"):
        LightShow(shipped, "disco")


def test_a_pattern_too_fast_for_the_relay_is_slowed_by_the_guard() -> None:
    lights = single_show(Step(Blink(("lights",), rate_hz=8.0)))
    timeline = simulate(LightShow(lights, "s"), 3.0)
    lights_spans = spans(timeline, "lights", 3.0)
    assert lights_spans[:3] == [(0.0, 0.3125), (0.625, 0.9375), (1.25, 1.5625)]
    switches = sorted({time for span in lights_spans for time in span if time < 3.0})
    assert min(later - earlier for earlier, later in pairwise(switches)) >= 0.25


@pytest.mark.parametrize("rate_hz", [3.0, 7.0, 11.0, 40.0])
def test_no_pattern_switches_a_relay_faster_than_its_min_interval(rate_hz: float) -> None:
    lights = single_show(
        Step(Sparkle(("lights", "beacon", "fog", "strobe"), rate_hz=rate_hz, seed=int(rate_hz)))
    )
    timeline = simulate(LightShow(lights, "s"), 20.0)
    for relay in RELAYS:
        switches = [
            time
            for (time, levels), (_before, previous) in zip(timeline[1:], timeline[:-1], strict=True)
            if levels[relay.name] != previous[relay.name]
        ]
        assert len(switches) > 5
        gaps = [later - earlier for earlier, later in pairwise(switches)]
        assert min(gaps) >= relay.min_interval - 1e-9


def test_fog_is_forced_off_at_its_max_on_time_and_rests() -> None:
    lights = single_show(Step(Steady(("fog", "lights"))))
    timeline = simulate(LightShow(lights, "s"), 130.0)
    assert spans(timeline, "fog", 130.0) == [(0.0, 20.0), (60.0, 80.0), (120.0, 130.0)]
    assert spans(timeline, "lights", 130.0) == [(0.0, 130.0)]


def test_states_follow_the_position_through_seeks_not_the_call_history() -> None:
    grid = steady_grid(count=400)
    lights = single_show(Step(Blink(("beacon",), rate_hz=1.0)), Step(Steady(("fog",)), start=50))
    show = LightShow(lights, "s", grid=grid)
    positions = [0.1, 0.6, 120.3, 12.2, 12.7, 49.9, 50.0, 3.0]
    seen = [(show.states_at(p), show.next_change_after(p)) for p in positions]
    fresh = [
        (
            LightShow(lights, "s", grid=grid).states_at(p),
            LightShow(lights, "s", grid=grid).next_change_after(p),
        )
        for p in positions
    ]
    assert seen == fresh
    assert [states["beacon"] for states, _next in seen] == [
        True,
        False,
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    assert [states["fog"] for states, _next in seen] == [
        False,
        False,
        True,
        False,
        False,
        False,
        True,
        False,
    ]
    assert [upcoming for _states, upcoming in seen] == [
        0.5,
        1.0,
        120.5,
        12.5,
        13.0,
        50.0,
        50.5,
        3.5,
    ]


def test_cues_follow_a_playback_position_that_drifts_from_the_wall_clock(
    shipped: LightsConfig,
) -> None:
    """A player running 3% slow, then seeking: flashes stay on the song's beats."""
    grid = steady_grid(count=400)
    show = LightShow.for_phase(shipped, Phase.PARTY, "dance.ogg", grid=grid)
    tick = 0.005

    def position(now: float) -> float:
        return 0.97 * now if now < 30.0 else 100.0 + 0.97 * (now - 30.0)

    flashes = []
    lit_before = False
    for step in range(int(40.0 / tick)):
        now = step * tick
        lit_now = show.apply(show.states_at(position(now)), now)["lights"]
        if lit_now and not lit_before:
            flashes.append(position(now))
        lit_before = lit_now
    beats = set(grid.beats)
    assert len(flashes) > 70
    for flash in flashes:
        nearest = min(beats, key=lambda beat: abs(beat - flash))
        assert 0 <= flash - nearest < tick
    assert any(flash > 100.0 for flash in flashes)


def test_apply_covers_every_relay_and_treats_absent_ones_as_off() -> None:
    show = LightShow(single_show(), "s")
    assert show.apply({"lights": True}, now=0.0) == {
        "lights": True,
        "beacon": False,
        "fog": False,
        "strobe": False,
    }
    assert show.states_at(0.0) == dict.fromkeys(("lights", "beacon", "fog", "strobe"), False)
    assert show.next_change_after(0.0) is None


def test_force_off_is_immediate_and_later_ons_respect_the_interval() -> None:
    show = LightShow(single_show(Step(Steady(("lights", "strobe")))), "s")
    assert show.apply(show.states_at(0.0), now=0.0)["lights"] is True
    assert show.force_off(0.01) == dict.fromkeys(("lights", "beacon", "fog", "strobe"), False)
    assert show.apply(show.states_at(0.02), now=0.02)["lights"] is False
    assert show.next_deadline(0.02) == pytest.approx(0.11)  # the strobe's 0.1 s interval
    assert show.apply(show.states_at(0.11), now=0.11) == {
        "lights": False,
        "beacon": False,
        "fog": False,
        "strobe": True,
    }
    assert show.next_deadline(0.11) == pytest.approx(0.26)


def test_guards_carry_over_from_one_phase_to_the_next(shipped: LightsConfig) -> None:
    guards = guards_for(RELAYS)
    song = LightShow.for_phase(shipped, Phase.PARTY, guards=guards)
    assert song.apply(song.states_at(0.0), now=100.0)["lights"] is True
    ending = LightShow.for_phase(shipped, Phase.ENDING, guards=guards)
    # The ending's blink wants the lights off at 0.5; they switched on 0.1 s before.
    assert ending.apply(ending.states_at(0.5), now=100.1)["lights"] is True
    assert ending.next_deadline(100.1) == pytest.approx(100.25)
    assert ending.apply(ending.states_at(0.65), now=100.25)["lights"] is False


def test_a_grid_arriving_mid_song_switches_from_steady_to_the_beat(shipped: LightsConfig) -> None:
    guards = guards_for(RELAYS)
    steady = LightShow.for_phase(shipped, Phase.PARTY, guards=guards)
    assert steady.apply(steady.states_at(40.0), now=40.0)["lights"] is True
    beat = LightShow.for_phase(shipped, Phase.PARTY, grid=steady_grid(count=200), guards=guards)
    assert beat.apply(beat.states_at(40.75), now=40.75)["lights"] is False
    assert beat.next_change_after(40.75) == 41.0
    assert beat.apply(beat.states_at(41.0), now=41.0)["lights"] is True
