"""Previews: the terminal timeline, the PNG plot, and the preview command."""

from __future__ import annotations

import argparse
import os
import wave
from pathlib import Path

import pytest

from party_button.cli import preview as preview_command
from party_button.cli.common import call
from party_button.lights.patterns import BeatFlash, Blink, Steady
from party_button.lights.runner import LightShow
from party_button.lights.shows import LightsConfig, Step
from party_button.maker.preview import render_timeline, write_png
from party_button.testing.lights import Grid, load_shipped, single_show

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture
def shipped(tmp_path: Path) -> LightsConfig:
    return load_shipped(tmp_path)


def test_timeline_golden_drawing() -> None:
    lights = single_show(
        Step(Blink(("lights", "strobe"), rate_hz=1.0)),
        Step(Steady(("fog",)), stop=2.0),
        Step(Blink(("beacon",), rate_hz=1.0, duty=0.25)),
    )
    drawing = render_timeline(LightShow(lights, "s"), 4.0, width=8)
    assert drawing.splitlines() == [
        "show s: 4 s, no beat grid, beat patterns hold steady on, 500 ms per column",
        "time   0s      ",
        "lights █·█·█·█·",
        "beacon ▒·▒·▒·▒·",
        "fog    ████····",
        "strobe █·█·█·█·",
        "       █ on  ▒ partly on  · off",
    ]


def test_timeline_marks_beats_and_downbeats_and_labels_time() -> None:
    grid = Grid(120.0, (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5), (0.5, 2.5))
    lights = single_show(Step(BeatFlash(("lights",))))
    lines = render_timeline(LightShow(lights, "s", grid=grid), 4.0, width=16).splitlines()
    assert lines[0] == "show s: 4 s, 120 BPM, 7 beats, 250 ms per column"
    assert lines[1] == "time   0s      2s      "
    assert lines[2] == "beats    | ' ' ' | ' ' "
    assert lines[3] == "lights ··█·█·█·█·█·█·█·"


def test_timeline_shows_what_the_guards_allow() -> None:
    lights = single_show(Step(Steady(("fog",))))
    drawing = render_timeline(LightShow(lights, "s"), 80.0, width=8)
    assert "fog    ██····██" in drawing.splitlines()  # 20 s on, 40 s rest, on again


def test_png_is_written_and_decodable(tmp_path: Path) -> None:
    import pygame

    lights = single_show(Step(Steady(("lights",)), stop=2.0))
    path = tmp_path / "show.png"
    write_png(LightShow(lights, "s"), 4.0, path, width=600, row_height=30)
    image = pygame.image.load(str(path))
    assert image.get_width() == 600
    row_middle = 22 + 15  # below the time axis, the first row (lights)
    colours = [tuple(image.get_at((x, row_middle)))[:3] for x in range(600)]
    lit = [x for x, colour in enumerate(colours) if colour == (255, 196, 0)]
    assert lit, "the lights row has no bar"
    assert lit == list(range(lit[0], lit[-1] + 1))  # one bar
    plot_width = 600 - lit[0] - 10
    assert len(lit) == pytest.approx(plot_width / 2, abs=2)
    beacon_middle = row_middle + 30
    assert all(tuple(image.get_at((x, beacon_middle)))[:3] != (0, 170, 255) for x in range(600))


def test_png_into_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    lights = single_show(Step(Steady(("lights",))))
    with pytest.raises(OSError, match="cannot write"):
        write_png(LightShow(lights, "s"), 4.0, tmp_path / "missing" / "show.png")


def run_preview(lights: LightsConfig, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="party-button preview")
    preview_command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.run = lambda parsed: preview_command.draw(parsed, lights)
    return call(args)


def test_preview_command_draws_a_show(
    shipped: LightsConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_preview(shipped, "ending", "--width", "10") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("show ending: 4 s,")
    assert "fog    █████·····" in out


def test_preview_command_defaults_to_sixteen_seconds(
    shipped: LightsConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_preview(shipped, "party", "--width", "16") == 0
    assert capsys.readouterr().out.startswith("show party: 16 s,")


def test_preview_command_writes_a_png(
    shipped: LightsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pygame

    path = tmp_path / "intro.png"
    assert (
        run_preview(shipped, "intro", "--png", str(path), "--duration", "3", "--width", "30") == 0
    )
    assert f"wrote {path}" in capsys.readouterr().out
    assert pygame.image.load(str(path)).get_width() == 1200


def test_preview_command_unknown_show_is_one_line_and_exit_1(
    shipped: LightsConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_preview(shipped, "partty") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "party-button preview: unknown show 'partty' (did you mean 'party'?); "
        "shows: calm, ending, intro, party\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--width", "3"), "--width must be at least 10 columns, got 3"),
        (("--song", "nowhere.ogg"), "no such song file: nowhere.ogg"),
    ],
)
def test_preview_command_bad_options_exit_1(
    shipped: LightsConfig, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert run_preview(shipped, "party", *argv) == 1
    assert capsys.readouterr().err == f"party-button preview: {message}\n"


def test_preview_command_unwritable_png_exit_1(
    shipped: LightsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "x.png"
    assert run_preview(shipped, "party", "--width", "20", "--png", str(path)) == 1
    assert capsys.readouterr().err.startswith(f"party-button preview: cannot write {path}: ")


def test_preview_command_undecodable_song_exit_1(
    shipped: LightsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "broken.ogg"
    song.write_bytes(b"this is not audio at all" * 20)
    assert run_preview(shipped, "party", "--song", str(song)) == 1
    assert capsys.readouterr().err.startswith(f"party-button preview: cannot read song {song}: ")


@pytest.mark.parametrize("value", ["0", "-2", "soon", "inf"])
def test_preview_command_rejects_bad_durations(shipped: LightsConfig, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_preview(shipped, "party", "--duration", value)
    assert exit_info.value.code == 2


def write_silence(path: Path, seconds: float, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return path


def test_preview_command_with_a_song_uses_its_length(
    shipped: LightsConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("party_button.beats.grid")
    song = write_silence(tmp_path / "slow-one.wav", 2.5)
    assert run_preview(shipped, "party", "--song", str(song), "--width", "10") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("show party: 2.5 s,")
    assert "slow-one.wav has no beat grid yet" in captured.err
