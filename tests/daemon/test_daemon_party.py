"""Golden timelines: scripted presses, holds and bounces against a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from party_button.daemon.party import ButtonReader, Do, Input, PartyMachine, Rules
from party_button.phase import Phase


@dataclass
class FakeParty:
    """Runs the reader and machine on a fake clock with a simulated sound of fixed length."""

    rules: Rules
    song_length: float = 10.0
    intro_length: float = 2.0
    bounce_time: float = 0.05
    hold_time: float = 2.0
    log: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reader = ButtonReader(self.bounce_time, self.hold_time)
        self.machine = PartyMachine(self.rules)
        self.song_end: float | None = None
        self.intro_end: float | None = None

    def _apply(self, actions: list[Do], now: float) -> None:
        for action in actions:
            self.log.append((round(now, 3), action.value))
            if action in (Do.PLAY_SONG, Do.NEXT_SONG, Do.RESTART_SONG):
                self.song_end = now + self.song_length
                self.intro_end = None
            elif action is Do.PLAY_INTRO:
                self.intro_end = now + self.intro_length
            elif action in (Do.FADE_OUT, Do.STOP_AUDIO):
                self.song_end = self.intro_end = None

    def _deadlines(self) -> list[float]:
        pending = [self.reader.deadline(), self.machine.deadline()]
        if self.machine.phase is Phase.PARTY:
            pending.append(self.song_end)
        if self.machine.phase is Phase.INTRO:
            pending.append(self.intro_end)
        return [d for d in pending if d is not None]

    def _advance(self, until: float) -> None:
        while (due := [d for d in self._deadlines() if d <= until]) != []:
            now = min(due)
            held = self.reader.tick(now)
            if held is not None:
                self._apply(self.machine.handle(held, now), now)
            intro_over = self.intro_end is not None and now >= self.intro_end
            if self.machine.phase is Phase.INTRO and intro_over:
                self._apply(self.machine.intro_ended(now), now)
            song_over = self.song_end is not None and now >= self.song_end
            if self.machine.phase is Phase.PARTY and song_over:
                self.song_end = None
                self._apply(self.machine.song_ended(now), now)
            self._apply(self.machine.tick(now), now)

    def run(self, script: list[tuple[float, str]], until: float) -> list[tuple[float, str]]:
        """``script``: (time, "down"|"up"|"stop"|"next"); returns the actions with times."""
        for at, what in sorted(script):
            self._advance(at)
            if what in ("stop", "next"):
                self._apply(self.machine.handle(Input(what), at), at)
                continue
            signal_in = self.reader.edge(what == "down", at)
            if signal_in is not None:
                self._apply(self.machine.handle(signal_in, at), at)
        self._advance(until)
        return self.log


def tap(at: float, length: float = 0.1) -> list[tuple[float, str]]:
    return [(at, "down"), (at + length, "up")]


def test_press_plays_a_song_to_its_end() -> None:
    party = FakeParty(Rules(cooldown=3.0, ending_time=1.0))
    assert party.run(tap(1.0), until=30) == [
        (1.0, "relays on"),
        (1.0, "play song"),
        (12.0, "stop audio"),
        (12.0, "relays off"),
        (12.0, "prepare next"),
    ]
    assert party.machine.phase is Phase.IDLE


def test_bounces_are_one_press() -> None:
    chatter = [(1.0, "down"), (1.004, "up"), (1.009, "down"), (1.03, "up"), (1.04, "down")]
    party = FakeParty(Rules(on_press="stop"))
    log = party.run([*chatter, (1.2, "up")], until=5)
    assert log == [(1.0, "relays on"), (1.0, "play song")]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("next", [(4.0, "next song")]),
        ("restart", [(4.0, "restart song")]),
        ("ignore", []),
        (
            "stop",
            [(4.0, "fade out"), (5.0, "stop audio"), (5.0, "relays off"), (5.0, "prepare next")],
        ),
    ],
)
def test_second_press_follows_the_rule(rule: str, expected: list[tuple[float, str]]) -> None:
    party = FakeParty(Rules(on_press=rule, ending_time=1.0), song_length=100)
    log = party.run([*tap(1.0), *tap(4.0)], until=8)
    assert log == [(1.0, "relays on"), (1.0, "play song"), *expected]


def test_next_song_resets_the_song_end() -> None:
    party = FakeParty(Rules(on_press="next", cooldown=0.0, ending_time=0.5), song_length=10)
    log = party.run([*tap(1.0), *tap(8.0)], until=30)
    assert log[-3:] == [(18.5, "stop audio"), (18.5, "relays off"), (18.5, "prepare next")]
    assert (8.0, "next song") in log


def test_chatter_on_release_settles_up_without_a_hold() -> None:
    party = FakeParty(Rules(on_press="ignore"), song_length=100, hold_time=2.0)
    log = party.run([(1.0, "down"), (1.6, "up"), (1.62, "down"), (1.63, "up")], until=10)
    assert log == [(1.0, "relays on"), (1.0, "play song")]
    assert not party.reader.is_down


def test_chatter_that_settles_pressed_is_a_press() -> None:
    party = FakeParty(Rules(), song_length=100, bounce_time=0.05)
    log = party.run(
        [(1.0, "down"), (1.01, "up"), (5.0, "down"), (5.01, "up"), (5.02, "down")], until=6
    )
    # The release at 1.01 came within the bounce time; it is taken once the contacts have
    # settled (at 1.05), so 5.0 is a new press.
    assert log == [(1.0, "relays on"), (1.0, "play song"), (5.0, "next song")]
    assert party.reader.is_down


def test_hold_is_a_panic_stop() -> None:
    party = FakeParty(Rules(cooldown=3.0), song_length=100, hold_time=2.0)
    log = party.run([(1.0, "down"), (3.5, "up")], until=10)
    assert log == [
        (1.0, "relays on"),
        (1.0, "play song"),
        (3.0, "stop audio"),
        (3.0, "relays off"),
        (3.0, "prepare next"),
    ]


def test_release_before_hold_time_is_not_a_hold() -> None:
    party = FakeParty(Rules(on_press="ignore"), song_length=100, hold_time=2.0)
    log = party.run([(1.0, "down"), (2.9, "up")], until=10)
    assert log == [(1.0, "relays on"), (1.0, "play song")]


def test_cooldown_swallows_presses() -> None:
    party = FakeParty(Rules(cooldown=3.0, ending_time=0.0), song_length=2)
    log = party.run([*tap(1.0), *tap(4.0), *tap(5.9), *tap(6.1)], until=7)
    assert log == [
        (1.0, "relays on"),
        (1.0, "play song"),
        (3.0, "stop audio"),
        (3.0, "relays off"),
        (3.0, "prepare next"),
        (6.1, "relays on"),
        (6.1, "play song"),
    ]


def test_max_duration_ends_a_long_party() -> None:
    party = FakeParty(Rules(max_duration=30, ending_time=1.5), song_length=300)
    log = party.run(tap(1.0), until=60)
    assert log == [
        (1.0, "relays on"),
        (1.0, "play song"),
        (31.0, "fade out"),
        (32.5, "stop audio"),
        (32.5, "relays off"),
        (32.5, "prepare next"),
    ]


def test_intro_then_song() -> None:
    party = FakeParty(Rules(has_intro=True, ending_time=0.0), intro_length=2.0, song_length=5)
    log = party.run(tap(1.0), until=20)
    assert log == [
        (1.0, "relays on"),
        (1.0, "play intro"),
        (3.0, "play song"),
        (8.0, "stop audio"),
        (8.0, "relays off"),
        (8.0, "prepare next"),
    ]


def test_press_during_intro_starts_the_song_at_once() -> None:
    party = FakeParty(Rules(has_intro=True), intro_length=5.0, song_length=50)
    log = party.run([*tap(1.0), *tap(2.0)], until=10)
    assert log == [(1.0, "relays on"), (1.0, "play intro"), (2.0, "play song")]


def test_stop_request_fades_and_ends() -> None:
    party = FakeParty(Rules(ending_time=1.0, cooldown=0.0), song_length=50)
    log = party.run([*tap(1.0), (3.0, "stop")], until=10)
    assert log[2:] == [
        (3.0, "fade out"),
        (4.0, "stop audio"),
        (4.0, "relays off"),
        (4.0, "prepare next"),
    ]
    assert party.machine.phase is Phase.IDLE


def test_idle_hold_and_stop_do_nothing() -> None:
    machine = PartyMachine(Rules())
    assert machine.handle(Input.HOLD, 0.0) == []
    assert machine.handle(Input.STOP, 0.0) == []
    assert machine.deadline() is None


@pytest.mark.parametrize("rule", ["next", "stop", "ignore", "restart"])
def test_next_skips_to_the_next_song_whatever_a_press_does(rule: str) -> None:
    party = FakeParty(Rules(on_press=rule, ending_time=1.0, cooldown=0.0), song_length=10)
    log = party.run([*tap(1.0), (4.0, "next"), (6.0, "next")], until=30)
    assert log == [
        (1.0, "relays on"),
        (1.0, "play song"),
        (4.0, "next song"),
        (6.0, "next song"),
        (17.0, "stop audio"),  # the last song ended at 16, then the ending phase
        (17.0, "relays off"),
        (17.0, "prepare next"),
    ]


def test_next_during_the_intro_starts_the_song() -> None:
    party = FakeParty(Rules(has_intro=True), intro_length=5.0, song_length=50)
    log = party.run([*tap(1.0), (2.0, "next")], until=10)
    assert log == [(1.0, "relays on"), (1.0, "play intro"), (2.0, "play song")]


def test_next_without_a_song_playing_does_nothing() -> None:
    party = FakeParty(Rules(ending_time=1.0, cooldown=2.0), song_length=3)
    # idle, ending (4.0 to 5.0) and cooldown (5.0 to 7.0)
    log = party.run([(0.5, "next"), *tap(1.0), (4.5, "next"), (6.0, "next")], until=10)
    assert [action for _at, action in log] == [
        "relays on",
        "play song",
        "stop audio",
        "relays off",
        "prepare next",
    ]
