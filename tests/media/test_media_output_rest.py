"""The mixer's audio thread rests while nothing plays: real pygame on SDL's dummy driver."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from party_button.media.audio import PygamePlayer
from party_button.testing import wait_for, write_tone

WATCH_SECONDS = 0.5  # 43 buffers of 512 samples: an audio thread that runs wakes for each


def audio_thread_switches() -> int:
    """How often SDL's audio thread of this process has gone to sleep so far."""
    found: list[int] = []

    def named() -> bool:  # the thread names itself once it runs
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that has just ended
                if (task / "comm").read_text().startswith("SDLAudio"):
                    status = (task / "status").read_text()
                    found.append(int(status.split("voluntary_ctxt_switches:")[1].split()[0]))
                    return True
        return False

    wait_for(named)
    return found[-1]


def wakes_while_watched() -> int:
    """The audio thread's wake-ups over :data:`WATCH_SECONDS`, but for one buffer in flight."""
    before = audio_thread_switches()
    time.sleep(WATCH_SECONDS)
    return max(0, audio_thread_switches() - before - 1)


@pytest.fixture
def player() -> Iterator[PygamePlayer]:
    with PygamePlayer(buffer_size=512) as opened:
        opened.open()
        yield opened


def test_the_audio_thread_sleeps_between_sounds_and_plays_at_once(
    player: PygamePlayer, tmp_path: Path
) -> None:
    assert wakes_while_watched() == 0  # opened, nothing plays
    player.prepare(write_tone(tmp_path / "tone.ogg", 5.0))
    player.start()
    assert player.is_playing()
    running = audio_thread_switches()
    wait_for(lambda: audio_thread_switches() > running + 5)  # it mixes the song
    wait_for(lambda: player.position() > 0.05)
    player.stop()
    assert not player.is_playing()
    assert wakes_while_watched() == 0
    player.play_effect(write_tone(tmp_path / "beep.wav", 0.3))
    wait_for(lambda: not player.effect_playing(), timeout=10)  # the effect played to its end
    player.stop()
    assert wakes_while_watched() == 0


def test_another_thread_may_ask_but_not_wake_a_resting_mixer(
    player: PygamePlayer, tmp_path: Path
) -> None:
    player.prepare(write_tone(tmp_path / "tone.ogg", 1.0))
    answers: list[object] = []

    def ask() -> None:
        answers.extend([player.is_open, player.is_playing(), player.position()])
        try:
            player.start()
        except RuntimeError as exc:
            answers.append(str(exc))

    asking = threading.Thread(target=ask)
    asking.start()
    asking.join(10)
    assert not asking.is_alive(), "a question to the resting mixer waited for it"
    assert answers == [True, False, 0.0, answers[-1]]
    assert "rests in another thread: use it from there" in str(answers[-1])
    player.prepare(write_tone(tmp_path / "tone.ogg", 1.0))
    player.start()  # its own thread wakes it
    assert player.is_playing()
