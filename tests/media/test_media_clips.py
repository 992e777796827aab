"""The clip player against the real mpv, with null (or file) video and audio outputs."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from party_button.errors import SongError, VideoError
from party_button.media.clips import ClipPlayer
from party_button.testing import MPV_UNRECOGNISED, wait_for, write_clip

NULL_OUTPUTS = ("--vo=null", "--ao=null")
# The Pi's DRM output on a machine where that device does not exist: no display.
NO_DISPLAY = ("--vo=drm", "--drm-device=/nonexistent/card0", "--ao=null")
# Requests whose answers (mpv's property list, some 17 kB each) overfill a Unix socket.
FLOOD_REQUESTS = 200


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "songs" / "party.outlined.mp4", 1.0)


@pytest.fixture
def player(no_leaked_threads: None) -> Iterator[ClipPlayer]:
    with ClipPlayer("mpv", NULL_OUTPUTS) as clip_player:
        yield clip_player


def play(player: ClipPlayer, clip: Path) -> None:
    player.prepare(clip)
    assert player.prepared == clip
    player.start()
    assert player.prepared is None


def test_clip_plays_to_its_end(player: ClipPlayer, clip: Path) -> None:
    started = time.monotonic()
    play(player, clip)
    assert player.is_playing()
    wait_for(lambda: player.position() > 0.3, timeout=3)
    assert player.is_playing()
    wait_for(lambda: not player.is_playing(), timeout=4)
    assert time.monotonic() - started > 0.8  # a 1 s clip, played in real time
    assert 0.7 < player.position() <= 1.0
    assert player.take_failure() is None


def test_clip_sound_reaches_the_output_and_fades_out(
    tmp_path: Path, no_leaked_threads: None
) -> None:
    clip = write_clip(tmp_path / "long.mp4", 3.0, frequency=330.0)
    recording = tmp_path / "out.wav"
    options = ["--vo=null", "--ao=pcm", f"--ao-pcm-file={recording}"]
    with ClipPlayer("mpv", options, volume=0.8) as player:
        play(player, clip)
        wait_for(lambda: player.position() > 1.0, timeout=4)
        faded_at = player.position()
        player.fade_out(0.8)
        assert player.is_playing()  # fading still counts as playing
        wait_for(lambda: player.position() > faded_at + 1.0, timeout=4)  # past the fade's end
        player.stop()
        assert not player.is_playing()
    samples, rate = soundfile.read(recording)
    window = rate // 20
    levels = [np.abs(samples[i : i + window, 0]).max() for i in range(0, len(samples), window)]
    assert 0.30 < max(levels[:16]) < 0.34  # the 0.4 tone at volume 0.8, as pygame plays songs
    assert levels[-1] < 0.01  # silent at the end
    assert any(0.05 < level < 0.25 for level in levels)  # faded, not cut


def test_stop_mid_clip_and_play_another(player: ClipPlayer, tmp_path: Path) -> None:
    long_clip = write_clip(tmp_path / "long.mp4", 5.0)
    play(player, long_clip)
    wait_for(lambda: player.position() > 0.2, timeout=3)
    player.stop()
    assert not player.is_playing()
    assert player.position() == 0.0
    short = write_clip(tmp_path / "short.mp4", 0.5)
    play(player, short)
    wait_for(lambda: not player.is_playing(), timeout=3)
    assert player.position() < 0.6  # the short clip's position, not the long one's
    assert player.take_failure() is None


# mpv's reason for a file it cannot read: its log line, or, when the end of the file comes
# first over the IPC socket (mpv does not order the two), the end-file event's own words.
def test_broken_clip_is_reported_with_mpvs_reason(player: ClipPlayer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4000))
    play(player, broken)
    failures = []
    wait_for(lambda: failures.append(player.take_failure()) or failures[-1], timeout=3)
    failure = failures[-1]
    assert not player.is_playing()
    assert failure.clip == broken and failure.clip_at_fault
    assert failure.reason in MPV_UNRECOGNISED
    assert player.take_failure() is None  # reported once


def test_missing_clip_file_is_a_song_error(player: ClipPlayer, tmp_path: Path) -> None:
    with pytest.raises(SongError, match=r"gone\.mp4: file not found"):
        player.prepare(tmp_path / "gone.mp4")


def test_no_display_plays_clips_as_sound_only_with_one_log_line(
    clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, no_leaked_threads: None
) -> None:
    other = write_clip(tmp_path / "other.mp4", 0.6)
    with ClipPlayer("mpv", NO_DISPLAY) as player:
        for item in (clip, other):
            play(player, item)
            wait_for(lambda: player.position() > 0.2, timeout=5)
            wait_for(lambda: not player.is_playing(), timeout=4)
            assert player.take_failure() is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    prefix, suffix = "mpv cannot show video (", "): clips play as sound only"
    assert warnings[0].startswith(prefix) and warnings[0].endswith(suffix)
    # mpv's own words (which lines arrive before the clip's end-file varies), not the fallback
    reason = warnings[0][len(prefix) : -len(suffix)]
    assert reason and reason != "no video output"


def end_file_events(address: Path) -> Iterator[dict[str, object]]:
    """mpv's ``end-file`` events, read on a connection of the test's own."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(address))
        connection.settimeout(5)
        for line in connection.makefile("rb"):
            message = json.loads(line)
            if message.get("event") == "end-file":
                yield message


def test_a_busy_machine_still_plays_clips_as_sound_only_without_a_display(
    clip: Path, caplog: pytest.LogCaptureFixture, no_leaked_threads: None
) -> None:
    """mpv hands out a clip's end-file before the log lines saying the screen failed when its
    connection's thread falls behind, as on a busy machine: the clip still plays as sound only.

    The test holds that thread back: while the reader is locked out, mpv answers a flood of
    requests until the socket is full, and the clip fails meanwhile.
    """
    with ClipPlayer("mpv", NO_DISPLAY) as player:
        player.prepare(clip)
        assert player._folder is not None
        ended = end_file_events(player._folder / "ipc")
        with player._lock:  # the reader thread waits: mpv's writes fill the socket
            player.start()
            for _ in range(FLOOD_REQUESTS):
                player._send(["get_property", "property-list"])
            assert next(ended)["reason"] == "error"  # the display failed, mpv is held back
        ended.close()
        wait_for(lambda: player.position() > 0.2, timeout=10)
        wait_for(lambda: not player.is_playing(), timeout=5)
        assert player.take_failure() is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("): clips play as sound only")


def test_killed_mpv_ends_the_clip_and_a_new_one_starts(
    player: ClipPlayer, clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long_clip = write_clip(tmp_path / "long.mp4", 5.0)
    play(player, long_clip)
    wait_for(lambda: player.position() > 0.2, timeout=3)
    assert player._process is not None
    first = player._process.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not player.is_playing(), timeout=2)
    assert not player.is_open

    def errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    wait_for(errors, timeout=2)  # logged by mpv's reader thread, just after the clip's end
    assert errors() == ["mpv stopped during clip long.mp4 (exit code -9): the party ends"]
    play(player, clip)  # prepare starts a new mpv
    assert player._process is not None and player._process.pid != first
    wait_for(lambda: not player.is_playing(), timeout=3)
    assert player.position() > 0.7
    assert player.take_failure() is None


def test_clip_started_after_mpv_died_idle_is_a_failure_of_mpv_not_the_clip(
    player: ClipPlayer, clip: Path
) -> None:
    player.prepare(clip)
    assert player._process is not None
    os.kill(player._process.pid, signal.SIGKILL)
    wait_for(lambda: not player.is_open, timeout=2)
    player.start()
    failure = player.take_failure()
    assert failure is not None
    assert failure.reason == "mpv is not running" and not failure.clip_at_fault
    assert not player.is_playing()


def test_missing_mpv_is_a_clear_error(clip: Path) -> None:
    player = ClipPlayer("/nonexistent/mpv")
    with pytest.raises(VideoError, match=r"mpv not found: '/nonexistent/mpv' is not an installed"):
        player.check()
    with pytest.raises(VideoError, match="mpv not found"):
        player.prepare(clip)
    player.close()


def test_bad_mpv_option_fails_at_start_with_mpvs_message(no_leaked_threads: None) -> None:
    player = ClipPlayer("mpv", ["--no-such-option=1"])
    with pytest.raises(VideoError, match=r"exited at start with code 1: .*no-such-option"):
        player.open()
    assert not player.is_open
    player.close()


def test_open_reports_the_version_and_close_is_safe_twice(no_leaked_threads: None) -> None:
    player = ClipPlayer("mpv", NULL_OUTPUTS)
    description = player.open()
    assert description.startswith("mpv 0.") and "--vo=null" in description
    assert player.is_open
    assert player._process is not None
    process = player._process
    player.close()
    player.close()
    assert process.poll() is not None
    assert not player.is_open
