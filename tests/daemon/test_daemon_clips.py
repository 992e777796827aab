"""Clips in parties, end to end: mock pins, pygame on SDL's dummy driver, the real mpv."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.daemon.daemon import Daemon
from party_button.daemon.events import ReloadRequest
from party_button.phase import Phase
from party_button.testing import (
    MPV_UNRECOGNISED,
    history,
    press,
    relays_on,
    running_daemon,
    wait_for,
    write_clip,
)

NULL_OUTPUTS = ["--vo=null", "--ao=null"]


def clip_config(make_config: Callable[..., Config], **clips: object) -> Config:
    """The test config with clips always chosen when there are any, on mpv's null outputs."""
    return make_config({"clips": {"chance": 1.0, "mpv_options": NULL_OUTPUTS, **clips}})


def mpv_pid(daemon: Daemon) -> int:
    assert daemon.conductor.clips is not None and daemon.conductor.clips._process is not None
    return daemon.conductor.clips._process.pid


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """The daemon's messages at ``level`` or above.

    Not the beat worker's: it analyses the test songs on its own thread and logs, whenever
    it is done, that plain tones have no beat; that is tested in test_beats.py.
    """
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= level and r.name != "party_button.beats.worker"
    ]


def test_press_picks_the_clip_and_its_end_ends_the_party(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    no_leaked_threads: None,
) -> None:
    clip = write_clip(song_folder / "party.outlined.mp4", 1.2)
    with running_daemon(clip_config(make_config), mock_factory) as daemon:
        assert daemon.player.prepared == clip
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.playing == clip.name
        assert party.relays == {"lights": True, "beacon": True}
        # The light show follows the clip's position as mpv reports it.
        history(daemon).wait(lambda s: s.playing == clip.name and s.position > 0.3, timeout=3)
        assert not daemon.player.audio.is_playing()  # mpv plays the clip's sound, not pygame
        ended = history(daemon).wait(lambda s: s.phase == "cooldown", timeout=6)
        # The clip's end ended the party: it played to its 1.2 s.
        assert max(s.position for s in history(daemon).snapshots if s.playing) > 1.0
        assert ended.relays == {"lights": False, "beacon": False}
        assert not daemon.player.is_playing()
    assert relays_on(mock_factory) == (False, False)


@pytest.mark.parametrize("on_press", ["next", "stop", "restart"])
def test_press_during_a_clip_follows_the_rules(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path, on_press: str
) -> None:
    clips = [write_clip(song_folder / f"clip{i}.mp4", 4.0, 300.0 + 100 * i) for i in range(2)]
    config = make_config(
        {"clips": {"chance": 1.0, "mpv_options": NULL_OUTPUTS}, "party": {"on_press": on_press}}
    )
    with running_daemon(config, mock_factory) as daemon:
        press(mock_factory)
        wait_for(lambda: daemon.player.position() > 0.8, timeout=3)
        first = daemon.playing
        assert first in clips
        press(mock_factory)
        if on_press == "stop":
            wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=2)
            assert not daemon.player.is_playing()
            assert daemon.machine.phase is Phase.COOLDOWN
            return
        wait_for(lambda: 0.0 < daemon.player.position() < 0.5, timeout=2)
        assert daemon.machine.phase is Phase.PARTY
        assert relays_on(mock_factory) == (True, True)
        expected = first if on_press == "restart" else next(c for c in clips if c != first)
        assert daemon.playing == expected
        assert daemon.player.is_playing()


def test_killing_mpv_mid_clip_ends_the_party_with_the_relays_off(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clips = {write_clip(song_folder / f"long{i}.mp4", 5.0) for i in range(2)}
    config = clip_config(make_config)
    with running_daemon(config, mock_factory) as daemon:
        press(mock_factory)
        wait_for(lambda: daemon.player.position() > 0.3, timeout=3)
        killed = mpv_pid(daemon)
        played = daemon.playing
        assert played in clips
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=2)
        assert daemon.machine.phase is Phase.COOLDOWN
        # mpv's reader thread logs it; the loop may have ended the party a moment before.
        wait_for(lambda: messages(caplog, logging.ERROR), timeout=2)
        assert messages(caplog, logging.ERROR) == [
            f"mpv stopped during clip {played.name} (exit code -9): the party ends"
        ]
        # The next clip is prepared with a new mpv, and the next party plays it.
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=2)
        (other,) = clips - {played}
        assert daemon.player.prepared == other
        assert mpv_pid(daemon) != killed
        press(mock_factory)
        wait_for(lambda: daemon.player.position() > 0.3, timeout=3)
        assert daemon.playing == other and relays_on(mock_factory) == (True, True)


def test_missing_mpv_logs_once_and_plays_songs_only(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_clip(song_folder / "song0.outlined.mp4", 1.0)
    config = clip_config(make_config, mpv="/nonexistent/mpv")
    with running_daemon(config, mock_factory) as daemon:
        assert daemon.library.clip_count == 0
        assert len(daemon.library) == 3  # song0 is back in the bag without its clip
        for _party in range(3):
            wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=3)
            mark = history(daemon).mark()
            press(mock_factory)
            party = history(daemon).wait(lambda s: s.phase == "party", after=mark)
            assert party.playing is not None and party.playing.endswith(".ogg")
            assert party.relays == {"lights": True, "beacon": True}
            history(daemon).wait(lambda s: s.phase == "cooldown", after=mark, timeout=3)
    assert messages(caplog, logging.WARNING) == [
        "mpv not found: '/nonexistent/mpv' is not an installed program "
        "(apt-get install mpv, or set clips.mpv); clips are off, songs only"
    ]


def test_mpv_that_cannot_start_turns_clips_off(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_clip(song_folder / "party.mp4", 1.0)
    config = clip_config(make_config, mpv_options=["--no-such-option=1"])
    with running_daemon(config, mock_factory) as daemon:
        prepared = daemon.player.prepared
        assert prepared is not None and prepared.suffix == ".ogg"
        assert daemon.library.clip_count == 0
    assert messages(caplog, logging.WARNING) == [
        "mpv exited at start with code 1: Error parsing option no-such-option (option not found)"
        " / Setting commandline option --no-such-option=1 failed.; clips are off, songs only"
    ]


def test_broken_clip_is_set_aside_and_the_party_goes_on_with_a_song(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = song_folder / "broken.mp4"
    broken.write_bytes(os.urandom(4000))
    with running_daemon(clip_config(make_config), mock_factory) as daemon:
        assert daemon.player.prepared == broken
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.playing is not None and s.playing.endswith(".ogg"))
        assert party.phase == "party"
        assert party.relays == {"lights": True, "beacon": True}
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=4)
        mark = history(daemon).mark()
        press(mock_factory)  # the broken clip stays out of the playlist
        party = history(daemon).wait(lambda s: s.phase == "party", after=mark)
        assert party.playing is not None and party.playing.endswith(".ogg")
    assert messages(caplog, logging.WARNING) in (
        [
            f"skipping clip: {broken}: {reason}; a song plays instead "
            "(set aside until the file changes)"
        ]
        for reason in MPV_UNRECOGNISED
    )


def test_without_a_display_the_clip_plays_as_sound_only(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip = write_clip(song_folder / "party.mp4", 1.0)
    no_display = ["--vo=drm", "--drm-device=/nonexistent/card0", "--ao=null"]
    with running_daemon(clip_config(make_config, mpv_options=no_display), mock_factory) as daemon:
        press(mock_factory)
        playing = history(daemon).wait(lambda s: s.position > 0.3, timeout=5)
        assert playing.playing == clip.name
        assert playing.relays == {"lights": True, "beacon": True}
        wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=4)
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1 and warnings[0].endswith("clips play as sound only")


def test_a_new_clip_joins_the_playlist_without_a_restart(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    with running_daemon(clip_config(make_config), mock_factory) as daemon:
        assert daemon.library.clip_count == 0
        press(mock_factory)
        party = history(daemon).wait(lambda s: s.phase == "party")
        assert party.playing is not None and party.playing.endswith(".ogg")
        clip = write_clip(song_folder / "fresh.outlined.mp4", 0.8)  # copied in mid-party
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=4)
        assert daemon.player.prepared == clip
        mark = history(daemon).mark()
        press(mock_factory)
        assert history(daemon).wait(lambda s: s.phase == "party", after=mark).playing == clip.name
        history(daemon).wait(lambda s: s.phase == "cooldown", after=mark, timeout=4)


def test_a_reload_that_turns_up_the_clip_chance_plays_a_clip_at_the_next_press(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    # As an admin does it: the clip is copied in, then the config says always play clips.
    with running_daemon(clip_config(make_config, chance=0.0), mock_factory) as daemon:
        clip = write_clip(song_folder / "clips" / "dance.mp4", 0.8)
        make_config({"clips": {"chance": 1.0, "mpv_options": NULL_OUTPUTS}})
        answered = threading.Event()
        daemon.events.put(ReloadRequest(reply=lambda answer: answered.set()))
        assert answered.wait(10)
        # The library is made anew with the new chance, and its next pick is the clip.
        wait_for(lambda: daemon.player.prepared == clip, timeout=30)
        assert daemon.library.clip_count == 1
        mark = history(daemon).mark()
        press(mock_factory)
        assert history(daemon).wait(lambda s: s.phase == "party", after=mark).playing == clip.name
