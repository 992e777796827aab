"""``party-button audio-devices`` lists the names that ``audio.device`` takes."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, driver: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "SDL_AUDIODRIVER": driver},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_each_listed_name_opens_as_audio_device() -> None:
    listed = run("-m", "party_button", "audio-devices", driver="dummy")
    assert listed.returncode == 0, listed.stderr
    first, *names = listed.stdout.splitlines()
    assert first.startswith("default: ") and "via SDL dummy" in first
    assert names
    for name in names:
        opened = run(
            "-c",
            "import sys; from party_button.media.audio import PygamePlayer; "
            "print(PygamePlayer(device=sys.argv[1]).open())",
            name,
            driver="dummy",
        )
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.startswith(name)


def test_without_an_output_it_says_why_in_one_line() -> None:
    listed = run("-m", "party_button", "audio-devices", driver="no-such-driver")
    assert listed.returncode == 1
    assert listed.stderr.splitlines() == [
        "cannot open the default audio device: Audio target 'no-such-driver' not available"
    ]
