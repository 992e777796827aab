"""The daemon end to end: mock pins, the real pygame mixer on SDL's dummy driver."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.daemon.events import Request, StatusRequest
from party_button.daemon.party import Input
from party_button.phase import Phase
from party_button.testing import (
    BEACON,
    LED,
    LIGHTS,
    history,
    press,
    relays_on,
    running_daemon,
    wait_for,
)


def test_press_starts_a_party_that_ends_with_the_song(
    make_config: Callable[..., Config], mock_factory: MockFactory, no_leaked_threads: None
) -> None:
    config = make_config()
    with running_daemon(config, mock_factory) as daemon:
        assert relays_on(mock_factory) == (False, False)
        assert daemon.player.prepared is not None
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.relays == {"lights": True, "beacon": True}
        assert party.playing is not None and party.playing.startswith("song")
        history(daemon).wait(lambda s: s.phase == "cooldown", timeout=5)
        assert relays_on(mock_factory) == (False, False)
        assert not daemon.player.is_playing()
        history(daemon).wait(lambda s: s.phase == "idle", timeout=5)
    assert relays_on(mock_factory) == (False, False)


def test_the_led_shines_during_a_party(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    from party_button.testing import write_tone

    for song in song_folder.glob("song*.ogg"):
        write_tone(song, 30.0)  # a party that lasts until it is stopped
    with running_daemon(make_config(), mock_factory) as daemon:
        led = mock_factory.pin(LED)
        press(mock_factory)
        history(daemon).wait(lambda s: s.phase == "party")
        changes = len(led.states)
        assert led.state == 1
        wait_for(lambda: daemon.player.position() > 1.0, timeout=10)  # two breathing steps
        assert len(led.states) == changes and led.state == 1  # on, steadily
        daemon.events.put(Request(Input.STOP))
        history(daemon).wait(lambda s: s.phase in ("ending", "cooldown"))


def test_relays_are_off_after_stopping_mid_party(
    make_config: Callable[..., Config], mock_factory: MockFactory
) -> None:
    with running_daemon(make_config(), mock_factory) as daemon:
        press(mock_factory)
        wait_for(lambda: relays_on(mock_factory) == (True, True))
    assert relays_on(mock_factory) == (False, False)
    assert not daemon.player.is_open


def test_hold_stops_everything_at_once(
    make_config: Callable[..., Config], mock_factory: MockFactory, tmp_path: Path
) -> None:
    from party_button.testing import write_tone

    for index in range(3):
        write_tone(tmp_path / "songs" / f"song{index}.ogg", 5.0)
    config = make_config({"button": {"hold_time": 0.3}})
    with running_daemon(config, mock_factory) as daemon:
        mock_factory.pin(17).drive_low()
        history(daemon).wait(lambda s: s.phase == "party")
        # Long before the 5 s song ends: a panic stop, from the party straight to the
        # cooldown (no ending show, no fade), every relay off at once.
        stopped = history(daemon).wait(lambda s: s.phase == "cooldown", timeout=4)
        assert "ending" not in {snapshot.phase for snapshot in history(daemon).snapshots}
        assert stopped.relays == {"lights": False, "beacon": False}
        assert stopped.playing is None
        assert not daemon.player.is_playing()
        mock_factory.pin(17).drive_high()


def test_led_pulses_when_idle(
    make_config: Callable[..., Config], mock_factory: MockFactory
) -> None:
    led = mock_factory.pin(LED)
    with running_daemon(make_config(), mock_factory):
        # Two brightness steps a second: a fading brightness, not on/off.
        wait_for(lambda: len({round(state.state, 2) for state in led.states}) > 3)


def test_corrupt_song_is_skipped_with_one_log_line(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    (song_folder / "broken.ogg").write_bytes(b"this is not an ogg file" * 50)
    from party_button.testing import write_tone

    write_tone(song_folder / "good.ogg", 0.5)
    caplog.set_level(logging.INFO)
    with running_daemon(make_config(), mock_factory, seed=2) as daemon:
        for _party in range(2):
            wait_for(lambda: daemon.machine.phase is Phase.IDLE)
            press(mock_factory)
            wait_for(lambda: daemon.playing is not None)
            assert daemon.playing.name == "good.ogg"
            wait_for(lambda: daemon.machine.phase is Phase.COOLDOWN, timeout=3)
    skipped = [r.getMessage() for r in caplog.records if "skipping song" in r.getMessage()]
    assert skipped == [
        f"skipping song: {song_folder / 'broken.ogg'}: cannot be played: "
        "Not an Ogg Vorbis audio stream (set aside until the file changes)"
    ]


def test_empty_library_throws_the_lights_and_plays_the_fallback(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    fallback = song_folder.parent / "sounds" / "fallback.ogg"
    config = make_config({"party": {"fallback_sound": str(fallback)}})
    with running_daemon(config, mock_factory) as daemon:
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.relays == {"lights": True, "beacon": True}
        assert party.playing == fallback.name
        wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=3)


def test_no_sound_at_all_is_a_silent_party(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    config = make_config({"party": {"max_duration": 1.0}})
    with running_daemon(config, mock_factory) as daemon:
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.playing is None
        assert party.relays == {"lights": True, "beacon": True}
        wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=3)


def test_missing_audio_device_blinks_keeps_lights_and_retries(
    make_config: Callable[..., Config], mock_factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        {
            "audio": {"device": "no such device", "retry_interval": 0.5},
            "party": {"max_duration": 1.0},
        }
    )
    with running_daemon(config, mock_factory) as daemon:
        assert not daemon.player.is_open
        assert "audio device missing" in daemon.conductor.audio_status
        led = mock_factory.pin(LED)
        wait_for(lambda: {state.state for state in led.states[-6:]} == {0, 1})  # fast blinking
        press(mock_factory)
        wait_for(lambda: relays_on(mock_factory) == (True, True))
        daemon.player.audio.device = None  # the device is plugged in
        wait_for(lambda: daemon.player.is_open, timeout=3)
        wait_for(lambda: daemon.machine.phase is not Phase.PARTY, timeout=3)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (
        len(errors) == 1 and "cannot open audio device 'no such device'" in errors[0].getMessage()
    )


def test_soak_presses_bounces_and_holds(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    caplog: pytest.LogCaptureFixture,
    no_leaked_threads: None,
) -> None:
    config = make_config(
        {
            "button": {"bounce_time": 0.002, "hold_time": 0.2},
            "party": {"cooldown": 0.0},
            "audio": {"fade_out": 0.0},
        }
    )
    rng = random.Random(5)
    pin = mock_factory.pin(17)
    edges = holds = 0
    caplog.set_level(logging.INFO)
    with running_daemon(config, mock_factory) as daemon:
        while edges < 4000:
            pin.drive_low()
            held = rng.choices((0.0, 0.0005, 0.001, 0.003, 0.25), weights=(30, 30, 20, 19, 1))[0]
            holds += held > 0.2
            time.sleep(held)
            pin.drive_high()
            time.sleep(rng.choice((0.0, 0.0005, 0.002)))
            edges += 2
        wait_for(lambda: not daemon.events._events)
        assert daemon.machine.phase in set(Phase)
    assert relays_on(mock_factory) == (False, False)
    messages = [r.getMessage() for r in caplog.records]
    # The test songs are plain tones: the beat analysis rightly finds no beat in them.
    problems = [
        r for r in caplog.records if r.levelno >= logging.WARNING and "no beat grid" not in r.msg
    ]
    assert not problems
    assert holds > 10
    assert sum(m == "panic stop: button held" for m in messages) >= 1
    assert sum(m.startswith("playing ") for m in messages) > 50


def test_lights_flash_on_the_beats_of_the_playing_song(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from party_button.beats.grid import BeatGrid, SongStamp, save_grid
    from party_button.gpio.devices import PartyHardware
    from party_button.testing import write_tone

    for song in song_folder.glob("song*.ogg"):
        song.unlink()
    song = write_tone(song_folder / "beat.ogg", 3.0)
    beats = tuple(0.25 + 0.5 * index for index in range(6))
    stamp = SongStamp.of(song)
    save_grid(song, BeatGrid(120.0, beats, beats[::4], 4, stamp, analyzer="known"))
    show = {"steps": [{"relays": ["lights"], "pattern": "beat", "length": 0.4}]}
    relays = [
        {"name": "lights", "pin": LIGHTS, "min_interval": 0.2},
        {"name": "beacon", "pin": BEACON, "active_high": True},
    ]
    ending = {"steps": [], "duration": 0}
    config = make_config({"relays": relays, "shows": {"party": show, "ending": ending}})
    # Where in the song each flash came: the show follows the mixer's position, which on
    # SDL's dummy driver drifts against the wall clock when the machine is busy.
    flashes: list[float] = []
    switch = PartyHardware.set_relay

    def recording_switch(hardware: PartyHardware, name: str, on: bool) -> None:
        if name == "lights" and on and daemon.player.is_playing():
            flashes.append(daemon.player.position())
        switch(hardware, name, on)

    monkeypatch.setattr(PartyHardware, "set_relay", recording_switch)
    with running_daemon(config, mock_factory) as daemon:
        press(mock_factory)
        wait_for(lambda: daemon.machine.phase is Phase.COOLDOWN, timeout=10)
    assert len(flashes) == len(beats), (flashes, beats)
    # One flash per beat, each nearer its own beat than any other: the lights follow the
    # grid (without one they would stay steadily on). How close they come is measured by
    # benchmarks/lights.py; here a busy machine may only delay a wake-up.
    for flash, beat in zip(flashes, beats, strict=True):
        assert abs(flash - beat) < 0.25, (flashes, beats)  # half the gap between beats
    assert all(state.state == 0 for state in mock_factory.pin(BEACON).states)  # not in the show


def test_a_mixer_failure_at_the_press_keeps_the_lights_and_retries_the_audio(
    make_config: Callable[..., Config], mock_factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config({"audio": {"retry_interval": 0.5}, "party": {"max_duration": 1.0}})
    with running_daemon(config, mock_factory) as daemon:
        wait_for(lambda: daemon.player.prepared is not None)
        closed: list[bool] = []

        def close_the_mixer(_answer: object) -> None:
            # The mixer lost its device: it is closed under the conductor, on the loop's own
            # thread (the player belongs to it; its resting audio thread waits for it).
            daemon.player.close()
            closed.append(True)

        daemon.events.put(StatusRequest(reply=close_the_mixer))
        wait_for(lambda: closed)
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.relays == {"lights": True, "beacon": True}
        assert party.playing is None  # a silent party
        wait_for(lambda: daemon.player.is_open and daemon.player.prepared is not None, timeout=3)
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=4)
        press(mock_factory)
        wait_for(lambda: daemon.playing is not None)
        assert daemon.player.is_playing()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "the party goes on without sound" in errors[0]
