"""Problems found after a value was read point at the line of their own key."""

from __future__ import annotations

import pytest

from party_button.config.schema import load_config
from party_button.errors import ConfigError


def test_missing_sound_files_and_bad_pins_name_their_own_lines(tmp_path, song_folder):
    path = tmp_path / "config.yaml"
    path.write_text(
        "button:\n"
        "  pull_up: true\n"
        "  pin: GPIO99\n"  # line 3
        "relays:\n"
        "  - name: lights\n"
        "    drives: lamps\n"
        "    pin: GPIO5\n"
        "party:\n"
        "  on_press: next\n"
        "  intro_sound: songs/nope.ogg\n"  # line 10
        "  fallback_sound: songs/gone.ogg\n"  # line 11
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    lines = [problem.split(": ", 1)[0] for problem in error.value.problems]
    assert lines == [f"{path}:3", f"{path}:10", f"{path}:11"]
