"""Hostile config files: each is refused with FILE:LINE: key: message, never a traceback."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from party_button.config.location import SHIPPED_CONFIG
from party_button.config.schema import load_config
from party_button.config.yaml_guard import MAX_BYTES, MAX_DEPTH, MAX_VALUES
from party_button.errors import ConfigError
from party_button.testing.config import GOOD, run_cli
from party_button.testing.config import problems_of as problems_in

# Nine levels of ten aliases each: a billion "lol"s once expanded.
LAUGHS = "l0: &l0 lol\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


def problems_of(path: Path) -> list[str]:
    """Every problem of ``path``, without the ``FILE:`` prefix that each one must have."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in caught.value.problems)
    return [line[len(prefix) :] for line in caught.value.problems]


@pytest.fixture(autouse=True)
def _songs(song_folder: Path) -> None:
    """The folder that ``GOOD`` names exists."""


def test_the_good_base_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    assert load_config(path).button.pin == 17


@pytest.mark.parametrize(
    "extra",
    [
        LAUGHS,
        LAUGHS + "? *l9\n: as a key\n",
        LAUGHS + "party: {cooldown: *l9}\n",
    ],
    ids=["values", "key", "used"],
)
def test_an_alias_bomb_is_refused_at_its_line(tmp_path: Path, extra: str) -> None:
    # l5 is the first anchor whose expansion (111,111 values) passes the limit.
    assert problems_in(tmp_path, GOOD + extra) == [
        f"14: l5[0]: holds more than {MAX_VALUES} values once aliases are expanded"
    ]


def test_aliases_within_the_limit_are_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "party: {cooldown: &wait 2.5}\naudio: {fade_out: *wait}\n")
    config = load_config(path)
    assert (config.party.cooldown, config.audio.fade_out) == (2.5, 2.5)


def test_an_alias_inside_its_own_value_is_refused(tmp_path: Path) -> None:
    assert problems_in(tmp_path, GOOD + "a: &a [1, *a]\n") == [
        "9: a[1]: the alias *a refers to a value that holds it"
    ]


def test_an_alias_without_anchor_is_refused(tmp_path: Path) -> None:
    assert problems_in(tmp_path, GOOD + "a: *nope\n") == [
        "9: the alias *nope has no anchor &nope before it"
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH, 100_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    [problem] = problems_in(tmp_path, GOOD + "a: " + "[" * depth + "]" * depth + "\n")
    # The first level past the limit is named; libyaml stops a very deep file first.
    assert problem.endswith(f"nests deeper than {MAX_DEPTH} levels") or problem == (
        "9: not valid YAML: exceeded maximum nesting depth"
    )
    assert problem.startswith("9: ")


def test_nesting_through_aliases_counts_too(tmp_path: Path) -> None:
    chain = "d0: &d0 [1]\n" + "".join(f"d{i}: &d{i} [*d{i - 1}]\n" for i in range(1, 40))
    assert problems_in(tmp_path, GOOD + chain) == [
        f"40: d31[0]: the alias *d30 nests deeper than {MAX_DEPTH} levels once expanded"
    ]


def test_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    text = GOOD + (
        "party: {cooldown: !!python/object/apply:os.system [touch pwned]}\n"
        "audio: {device: !!binary aGVsbG8=}\n"
        "groups: !!set {lights}\n"
        "clips: {mpv: !local mpv}\n"
        "board: {audio_hat: !!timestamp 2024-01-01}\n"
    )
    assert problems_in(tmp_path, text) == [
        "9: party.cooldown: the tag !!python/object/apply:os.system is not allowed"
        " (write plain values)",
        "10: audio.device: the tag !!binary is not allowed (write plain values)",
        "11: groups: the tag !!set is not allowed (write plain values)",
        "12: clips.mpv: the tag !local is not allowed (write plain values)",
        "13: board.audio_hat: the tag !!timestamp is not allowed (write plain values)",
    ]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_plain_tags_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD.replace("pin: 5", "pin: !!int 5\n    drives: !!str 12"))
    assert load_config(path).relays[0].drives == "12"


def test_a_date_is_text_where_text_is_wanted_and_refused_as_a_number(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD.replace("pin: 5", "pin: 5\n    drives: 2024-01-01"))
    assert load_config(path).relays[0].drives == "2024-01-01"
    assert problems_in(tmp_path, GOOD + "party: {cooldown: 2024-01-01}\n") == [
        "9: party.cooldown: expected a number, got str '2024-01-01'"
    ]


def test_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    text = GOOD + (
        "party: {cooldown: .nan, max_duration: .inf}\naudio: {volume: -.inf, fade_out: 1.0e+999}\n"
    )
    assert problems_in(tmp_path, text) == [
        "9: party.cooldown: must be a finite number, got .nan",
        "9: party.max_duration: must be a finite number, got .inf",
        "10: audio.volume: must be a finite number, got -.inf",
        "10: audio.fade_out: must be a finite number, got 1.0e+999",
    ]


def test_absurd_numbers_are_out_of_range(tmp_path: Path) -> None:
    text = GOOD + (
        f"audio: {{sample_rate: {'9' * 5000}, buffer_size: {'9' * 30}, volume: 2}}\n"
        "party: {cooldown: -5, max_duration: 1.0e+300}\n"
        "shows:\n"
        "  party:\n"
        "    duration: 1.0e+20\n"
        "    steps:\n"
        "      - {relays: [lights], pattern: sparkle, rate_hz: 1, seed: -1, start: -1, stop: 50}\n"
        "      - {relays: [lights], pattern: beat, every: 1000000, start: 100}\n"
    )
    assert problems_in(tmp_path, text) == [
        "9: audio.sample_rate: is a number too long to read",
        "9: audio.buffer_size: must be at most 16384, got a 30-digit number",
        "9: audio.volume: must be at most 1, got 2",
        "10: party.cooldown: must be at least 0, got -5",
        "10: party.max_duration: must be at most 86400, got 1e+300",
        "13: shows.party.duration: must be at most 86400, got 1e+20",
        "15: shows.party.steps[0].start: must be at least 0, got -1",
        "15: shows.party.steps[0].seed: must be at least 0, got -1",
        "16: shows.party.steps[1].every: must be at most 64, got 1e+06",
    ]


def test_keys_must_be_names(tmp_path: Path) -> None:
    text = GOOD + (
        "1: one\nnull: nothing\n? [a, b]\n: list\n"
        "groups: {on: [lights], 'off': [lights], 2: [lights]}\n"
    )
    assert problems_in(tmp_path, text) == [
        "9: the key '1' is read by YAML as 1, not a name (quote it)",
        "10: the key 'null' is read by YAML as null, not a name (quote it)",
        "11: a key must be a name, got a list",
        "13: groups: the key 'on' is read by YAML as true, not a name (quote it)",
        "13: groups: the key '2' is read by YAML as 2, not a name (quote it)",
    ]


def test_merge_keys_are_refused(tmp_path: Path) -> None:
    text = GOOD + "base: &led {pin: 12}\nstatus_led: {<<: *led}\n"
    assert problems_in(tmp_path, text) == [
        "9: base: unknown key",
        "10: status_led: merge keys (<<) are not supported: write the keys out",
        "10: status_led.pin: is required (a pin such as GPIO17, BOARD11 or 17)",
    ]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n...\n"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    assert problems_in(tmp_path, text) == ["1: has no settings (it is empty or only comments)"]


@pytest.mark.parametrize(
    ("text", "shape"), [("- 1\n", "a list"), ("party\n", "str 'party'"), ("17\n", "int 17")]
)
def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path, text, shape) -> None:
    assert problems_in(tmp_path, text) == [f"1: expected a mapping at the top, got {shape}"]


def test_two_documents_are_refused(tmp_path: Path) -> None:
    assert problems_in(tmp_path, GOOD + "---\nbutton: {pin: 4}\n") == [
        "9: holds more than one YAML document (one is allowed)"
    ]


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(GOOD.encode() + "party: {on_press: caf\xe9}\n".encode("latin-1"))
    assert problems_of(path) == ["9: is not UTF-8 text: byte 0xe9 at column 22"]


def test_a_nul_byte_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(GOOD.encode().replace(b"pin: 5", b"pin: \x005"))
    assert problems_of(path) == [
        "6: holds the control character U+0000 at column 10 (YAML allows only printable text)"
    ]


def test_a_nul_escape_in_a_string_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("name: lights", 'name: "li\\0ghts"') + 'clips: {mpv_options: ["--a\\0"]}\n'
    assert problems_in(tmp_path, text) == [
        "5: relays[0].name: must not hold a NUL character",
        "9: clips.mpv_options[0]: must not hold a NUL character",
    ]


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with path.open("w") as file:
        file.write(GOOD)
        file.write("# padding\n" * (MAX_BYTES // 10 + 1))
    assert problems_of(path) == [
        f"1: is larger than {MAX_BYTES // 1024} KiB, the limit for a config file"
    ]


def test_a_folder_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == ["1: is a folder, not a config file"]


def test_a_long_value_makes_a_short_message(tmp_path: Path) -> None:
    [problem] = problems_in(tmp_path, GOOD + f"party: {{on_press: {'n' * 10_000}}}\n")
    assert len(problem) < 400
    assert problem.startswith("9: party.on_press: expected one of next, stop, ignore, restart,")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    result = run_cli("check-config", str(fifo))  # a read that blocked would time out
    assert (result.returncode, result.stderr) == (1, f"{fifo}:1: is a FIFO, not a regular file\n")


@pytest.mark.parametrize(
    "text",
    [
        GOOD + LAUGHS,
        GOOD + "a: " + "[" * 100 + "]" * 100,
        "",
        GOOD + "x: !!python/name:os.system\n",
    ],
)
def test_check_config_and_run_refuse_hostile_files_without_a_traceback(tmp_path, text) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    expected = [line for line in problems_of(path)]
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        result = run_cli(*command)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [f"{path}:{line}" for line in expected]
        assert result.stdout == ""


def _mutations(text: str, rng: random.Random) -> str:
    """``text`` with a few random edits drawn from hostile YAML's usual tricks."""
    pieces = [
        "&a ",
        "*a",
        "!!binary ",
        "!x ",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "- ",
        "? ",
        "<<: ",
        ".nan",
        ".inf",
        "-1",
        "1e9999",
        "~",
        "yes",
        "\t",
        "'",
        '"',
        "\\0",
        "\n  ",
        "99999999999999999999",
        "#",
        "---\n",
        "%YAML 1.1\n",
        "|",
        ">",
    ]
    for _edit in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.5:
            text = text[:at] + rng.choice(pieces) + text[at:]
        elif action < 0.8:
            text = text[:at] + text[at + rng.randint(1, 20) :]
        else:
            text = text[:at]
    return text


def test_random_damage_to_the_shipped_config_gives_problems_never_exceptions(tmp_path) -> None:
    shipped = SHIPPED_CONFIG.read_text()
    path = tmp_path / "config.yaml"
    (tmp_path / "songs").mkdir(exist_ok=True)
    rng = random.Random(20240611)
    outcomes = {"valid": 0, "refused": 0}
    for _case in range(400):
        path.write_text(_mutations(shipped, rng))
        try:
            load_config(path)
        except ConfigError as error:
            assert error.problems and all(p.startswith(f"{path}:") for p in error.problems)
            outcomes["refused"] += 1
        else:
            outcomes["valid"] += 1
    assert outcomes["refused"] > 200  # the edits do break most files
