"""The clocked output that ``benchmarks/latency.py`` measures press to audible with: a
PulseAudio null sink, recorded. A press makes the daemon's real pygame mixer (SDL's
``pulseaudio`` driver) play its song there, and the recording hears that very song, dated
after the press and not before."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.testing import press, running_daemon, wait_for, write_tone
from party_button.testing.null_sink import CHANNELS, RATE, NullSink

TONE_HZ = 440.0
TONE_PEAK = 0.4  # write_tone's amplitude
LISTENED = 0.5  # seconds of the song analysed


def test_a_press_plays_its_song_on_the_null_sink_and_the_recording_hears_it(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for song in song_folder.glob("song*.ogg"):
        write_tone(song, 5.0, TONE_HZ)  # whichever is picked plays this tone past the window
    config = make_config()
    with NullSink() as sink, sink.record() as recording:
        for name, value in {**sink.environment, "SDL_AUDIODRIVER": "pulseaudio"}.items():
            monkeypatch.setenv(name, value)
        with running_daemon(config, mock_factory) as daemon:
            assert "via SDL pulseaudio" in daemon.player.audio.describe()
            pressed = time.monotonic()
            assert recording.first_sound_after(0.0) is None  # silence until the press
            press(mock_factory)
            heard = recording.wait_for_sound(pressed)
            frames = round(LISTENED * RATE)
            wait_for(lambda: len(recording.sound_between(heard, heard + LISTENED)) >= frames * 2)
            sound = recording.sound_between(heard, heard + LISTENED)
    assert heard < pressed + 1.0  # its first sound, not a later one
    left = sound[0::CHANNELS]
    assert left == sound[1::CHANNELS]  # the song's two identical channels
    # The song's pitch, over the frames that sound (a busy machine may leave gaps: underruns)
    sounding = sum(1 for sample in left if sample != 0) / RATE
    rises = sum(1 for a, b in itertools.pairwise(left) if a < 0 <= b)
    assert rises / sounding == pytest.approx(TONE_HZ, rel=0.02)
    peak = TONE_PEAK * config.audio.volume * 32767
    assert max(left) == pytest.approx(peak, rel=0.05)  # at the configured volume
