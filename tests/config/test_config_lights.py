"""Reading groups, shows, show_for and song_shows: the shipped block, and every mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from party_button.lights.patterns import Alternate, BeatFlash, Blink, Chase, Sparkle, Steady
from party_button.phase import Phase
from party_button.testing.lights import RELAYS, Relay, load_lights, load_shipped


def parse(tmp_path: Path, text: str, relays: tuple[Relay, ...] = RELAYS):
    return load_lights(tmp_path, textwrap.dedent(text).lstrip("\n"), relays)


def test_the_shipped_shows_validate_cleanly(tmp_path: Path) -> None:
    lights = load_shipped(tmp_path)
    assert set(lights.shows) == {"intro", "party", "calm", "ending"}
    assert lights.groups["all"] == ("lights", "beacon", "fog", "strobe")
    assert dict(lights.show_for) == {
        Phase.INTRO: "intro",
        Phase.PARTY: "party",
        Phase.ENDING: "ending",
    }
    assert lights.song_shows == (("slow-*", "calm"),)
    party = lights.shows["party"]
    assert [type(step.pattern) for step in party.steps] == [BeatFlash, BeatFlash, Steady, Steady]
    assert (party.steps[3].start, party.steps[3].stop) == (10, 25)
    ending = lights.shows["ending"]
    assert ending.duration == 4
    assert ending.steps[1].relays == ("lights", "beacon", "strobe")  # the group expanded


def test_a_config_without_shows_gets_steady_defaults(tmp_path: Path) -> None:
    lights, problems = parse(tmp_path, "other: 1\n")
    assert problems == ["{}:1: other: unknown key".format(tmp_path / "config.yaml")]
    intro, party, ending = (lights.shows[name] for name in ("intro", "party", "ending"))
    assert intro.states(3.0, None) == dict.fromkeys(("lights", "beacon", "fog", "strobe"), True)
    assert party.states(300.0, None) == intro.states(3.0, None)
    assert ending.duration is None  # on until the fade-out is over, then the daemon ends it
    assert ending.states(0.0, None) == intro.states(3.0, None)


def test_show_for_and_song_shows_pick_shows(tmp_path: Path) -> None:
    lights, problems = parse(
        tmp_path,
        """
        shows:
          disco: {steps: [{relays: [lights], pattern: blink, rate_hz: 1}]}
          slow: {steps: []}
        show_for: {song: disco}
        song_shows:
          "ballad-*.ogg": slow
          exact.mp3: party
        """,
    )
    assert problems == []
    assert lights.show_name_for(Phase.PARTY) == "disco"
    assert lights.show_name_for(Phase.PARTY, "/music/ballad-7.ogg") == "slow"
    assert lights.show_name_for(Phase.PARTY, "exact.mp3") == "party"
    assert lights.show_name_for(Phase.PARTY, "other.ogg") == "disco"
    assert lights.show_name_for(Phase.INTRO, "ballad-7.ogg") == "intro"
    assert lights.show_name_for(Phase.ENDING) == "ending"


def test_parameters_reach_the_patterns(tmp_path: Path) -> None:
    lights, problems = parse(
        tmp_path,
        """
        groups: {pair: [lights, beacon]}
        shows:
          s:
            steps:
              - {relays: [strobe], pattern: strobe, rate_hz: 2, start: 3}
              - {relays: [beacon], pattern: sparkle, rate_hz: 1, density: 0.3, seed: 9}
              - {relays: [lights], pattern: beat, every: 4, offset: 2, length: 0.75}
              - {pattern: alternate, sides: [fog, strobe], every: 8, start: 0, stop: 3}
        """,
    )
    assert problems == []
    strobe, sparkle, beat, alternate = (step.pattern for step in lights.shows["s"].steps)
    assert strobe == Blink(("strobe",), 2, 0.25, origin=3)
    assert sparkle == Sparkle(("beacon",), 1, 0.3, 9, origin=0.0)
    assert beat == BeatFlash(("lights",), 4, 2, 0.75)
    assert alternate == Alternate((("fog",), ("strobe",)), 8)


BAD_SHOWS = {
    "unknown relay with a hint": (
        "shows:\n  s: {steps: [{relays: [ligths], pattern: steady}]}\n",
        ["2: shows.s.steps[0].relays: unknown relay or group 'ligths' (did you mean 'lights'?)"],
    ),
    "unknown group member": (
        "groups:\n  g:\n    - lights\n    - bacon\n",
        ["4: groups.g: unknown relay 'bacon' (did you mean 'beacon'?)"],
    ),
    "group named like a relay": (
        "groups:\n  fog: [lights]\n",
        ["2: groups.fog: 'fog' is already a relay's name"],
    ),
    "empty group": ("groups:\n  g: []\n", ["2: groups.g: needs at least one relay"]),
    "unknown pattern": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: blnk, rate_hz: 1}\n",
        [
            "4: shows.s.steps[0].pattern: expected one of steady, blink, strobe, chase, "
            "sparkle, beat, downbeat, alternate, got 'blnk' (did you mean 'blink'?)"
        ],
    ),
    "missing rate": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: chase}\n",
        ["4: shows.s.steps[0].rate_hz: is required (a number)"],
    ),
    "zero rate": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: blink, rate_hz: 0}\n",
        ["4: shows.s.steps[0].rate_hz: must be at least 0.01, got 0"],
    ),
    "rate as text": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: blink, rate_hz: fast}\n",
        ["4: shows.s.steps[0].rate_hz: expected a number, got str 'fast'"],
    ),
    "strobe faster than the relay allows": (
        "shows:\n  s:\n    steps:\n"
        "      - relays: [lights, strobe]\n        pattern: strobe\n        rate_hz: 4\n",
        [
            "6: shows.s.steps[0].rate_hz: strobe would switch relay 'lights' every 0.0625 s, "
            "faster than its min_interval of 0.25 s (use rate_hz 1 or less)",
            "6: shows.s.steps[0].rate_hz: strobe would switch relay 'strobe' every 0.0625 s, "
            "faster than its min_interval of 0.1 s (use rate_hz 2.5 or less)",
        ],
    ),
    "chase faster than the relay allows": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights, beacon], pattern: chase, "
        "rate_hz: 5}\n",
        [
            "4: shows.s.steps[0].rate_hz: chase would switch relay 'lights' every 0.2 s, "
            "faster than its min_interval of 0.25 s (use rate_hz 4 or less)",
            "4: shows.s.steps[0].rate_hz: chase would switch relay 'beacon' every 0.2 s, "
            "faster than its min_interval of 0.25 s (use rate_hz 4 or less)",
        ],
    ),
    "beat too fast for the relay": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: beat, length: 0.25}\n",
        [
            "4: shows.s.steps[0].pattern: beat would switch relay 'lights' every 0.125 s, "
            "faster than its min_interval of 0.25 s (at 120 BPM; use a longer length)"
        ],
    ),
    "beat gap too short for the relay": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: beat, length: 0.75}\n",
        [
            "4: shows.s.steps[0].pattern: beat would switch relay 'lights' every 0.125 s, "
            "faster than its min_interval of 0.25 s (at 120 BPM; use a larger every)"
        ],
    ),
    "offset not below every": (
        "shows:\n  s:\n    steps:\n      - relays: [lights]\n        pattern: beat\n"
        "        every: 2\n        offset: 2\n",
        ["7: shows.s.steps[0].offset: must be less than every (2), got 2"],
    ),
    "stop before start": (
        "shows:\n  s:\n    steps:\n      - relays: [lights]\n        pattern: steady\n"
        "        start: 5\n        stop: 5\n",
        ["7: shows.s.steps[0].stop: must be after start (5 s), got 5"],
    ),
    "overlapping steps on one relay": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights, fog], pattern: steady, stop: 10}\n"
        "      - {relays: [all], pattern: blink, rate_hz: 1, start: 5}\n"
        "groups: {all: [lights, beacon, fog]}\n",
        [
            "5: shows.s.steps[1]: 'lights', 'fog' already driven by shows.s.steps[0] at the "
            "same time (give the steps start/stop windows that do not overlap)"
        ],
    ),
    "alternate with one side": (
        "shows:\n  s:\n    steps:\n      - {pattern: alternate, sides: [lights]}\n",
        ["4: shows.s.steps[0].sides: needs at least two sides, got 1"],
    ),
    "alternate sides sharing a relay": (
        "groups: {g: [lights, beacon]}\nshows:\n  s:\n    steps:\n"
        "      - pattern: alternate\n        sides: [g, beacon, fog]\n",
        ["6: shows.s.steps[0].sides: 'beacon' repeats beacon of another side"],
    ),
    "alternate given relays": (
        "shows:\n  s:\n    steps:\n      - {pattern: alternate, sides: [fog, lights], "
        "relays: [beacon]}\n",
        ["4: shows.s.steps[0].relays: unknown key"],
    ),
    "parameter that the pattern does not take": (
        "shows:\n  s:\n    steps:\n      - relays: [lights]\n        pattern: steady\n"
        "        rate_hz: 2\n",
        ["6: shows.s.steps[0].rate_hz: unknown key"],
    ),
    "misspelt parameter": (
        "shows:\n  s:\n    steps:\n      - relays: [lights]\n        pattern: blink\n"
        "        rate_hz: 1\n        dutty: 0.3\n",
        ["7: shows.s.steps[0].dutty: unknown key (did you mean 'duty'?)"],
    ),
    "density out of range": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: sparkle, rate_hz: 1, "
        "density: 1.5}\n",
        ["4: shows.s.steps[0].density: must be at most 0.95, got 1.5"],
    ),
    "seed that is not an integer": (
        "shows:\n  s:\n    steps:\n      - {relays: [lights], pattern: sparkle, rate_hz: 1, "
        "seed: 0.5}\n",
        ["4: shows.s.steps[0].seed: expected an integer, got float 0.5"],
    ),
    "negative duration": (
        "shows:\n  s:\n    duration: -1\n    steps: []\n",
        ["3: shows.s.duration: must be at least 0, got -1"],
    ),
    "show without steps": (
        "shows:\n  s: {duration: 3}\n",
        ["2: shows.s.steps: is required (a list)"],
    ),
    "unknown show in show_for": (
        "shows:\n  disco: {steps: []}\nshow_for:\n  song: disko\n",
        [
            "4: show_for.song: expected one of disco, intro, party, ending, got 'disko' "
            "(did you mean 'disco'?)"
        ],
    ),
    "unknown phase in show_for": (
        "show_for:\n  outro: ending\n",
        ["2: show_for.outro: unknown key (did you mean 'intro'?)"],
    ),
    "unknown show in song_shows": (
        "song_shows:\n  '*.ogg': partey\n",
        [
            "2: song_shows.*.ogg: expected one of intro, party, ending, got 'partey' "
            "(did you mean 'party'?)"
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_SHOWS), ids=list(BAD_SHOWS))
def test_every_bad_show_is_reported_with_its_line(tmp_path: Path, case: str) -> None:
    text, expected = BAD_SHOWS[case]
    _lights, problems = parse(tmp_path, text)
    prefix = f"{tmp_path / 'config.yaml'}:"
    assert all(problem.startswith(prefix) for problem in problems)
    assert [problem.removeprefix(prefix) for problem in problems] == expected


def test_alternate_is_checked_against_slow_relays(tmp_path: Path) -> None:
    relays = (Relay("left", 20, min_interval=0.75), Relay("right", 21, min_interval=0.5))
    _lights, problems = parse(
        tmp_path,
        """
        shows:
          s:
            steps:
              - {pattern: alternate, sides: [left, right]}
        """,
        relays,
    )
    assert problems == [
        f"{tmp_path / 'config.yaml'}:4: shows.s.steps[0].pattern: alternate would switch relay "
        "'left' every 0.5 s, faster than its min_interval of 0.75 s (at 120 BPM; use a larger "
        "every)"
    ]


def test_every_problem_is_collected_and_the_good_parts_kept(tmp_path: Path) -> None:
    lights, problems = parse(
        tmp_path,
        """
        shows:
          s:
            steps:
              - {relays: [lights], pattern: blink, rate_hz: 1}
              - {relays: [nope], pattern: steady}
              - {relays: [fog], pattern: wobble}
              - {relays: [beacon], pattern: chase, rate_hz: 2}
        show_for: {song: t}
        """,
    )
    assert [problem.split(": ")[1] for problem in problems] == [
        "shows.s.steps[1].relays",
        "shows.s.steps[2].pattern",
        "show_for.song",
    ]
    kept = lights.shows["s"].steps
    assert [step.pattern for step in kept] == [
        Blink(("lights",), 1),
        Chase(("beacon",), 2),
    ]
    assert lights.show_for[Phase.PARTY] == "party"
