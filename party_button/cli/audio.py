"""``party-button audio-devices``: the output devices SDL sees, the names ``audio.device`` takes."""

from __future__ import annotations

import argparse

from party_button.cli.common import EXIT_OK, add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``audio-devices`` to the main command."""
    text = "list the audio output devices: the names that audio.device takes"
    note = (
        "as the service sees them, run it as its user with the service stopped: "
        "sudo -u party-button party-button audio-devices; $SDL_AUDIODRIVER chooses the driver"
    )
    add_command(subparsers, "audio-devices", run, text, example="", config=False, warning=note)


def run(args: argparse.Namespace) -> int:
    """Open the default output, print every device's name, one a line; 1 when none opens."""
    from party_button.media.audio import PygamePlayer, output_devices

    player = PygamePlayer()
    try:
        print(f"default: {player.open()}")
        for name in output_devices() or []:
            print(name)
    finally:
        player.close()
    return EXIT_OK
