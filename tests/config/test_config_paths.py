"""Configured paths the daemon cannot use are FILE:LINE problems, whatever the OS error."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from party_button.config.schema import load_config
from party_button.errors import ConfigError
from party_button.testing import MOCK_CONFIG, write_tone
from party_button.testing.users import run_as

NOBODY = 65534


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="party-button-paths-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.chmod(0o700)
        for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        folder.rmdir()


def line_of(path: Path, text: str) -> int:
    """The number of the config's line that holds ``text``."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def write(folder: Path, changes: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**MOCK_CONFIG, **changes}, sort_keys=False))
    path.chmod(0o644)
    return path


def problems_as(uid: int, path: Path) -> str:
    """What ``load_config(path)`` says when run by ``uid`` (``OK`` when it loads)."""

    def load() -> str:
        try:
            load_config(path)
        except ConfigError as exc:
            return str(exc)
        return "OK"

    return run_as(uid, uid, [], load)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_a_songs_folder_the_user_cannot_enter_is_a_problem_not_a_traceback(open_folder):
    private = open_folder / "private"
    (private / "music").mkdir(parents=True)
    private.chmod(0o700)
    path = write(open_folder, {"songs": {"folders": ["songs-ok", str(private / "music")]}})
    (open_folder / "songs-ok").mkdir(mode=0o755)
    line = line_of(path, str(private / "music"))
    assert problems_as(NOBODY, path) == (
        f"{path}:{line}: songs.folders: folder {str(private / 'music')!r} cannot be reached: "
        "permission denied on a folder above it"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_an_unreadable_folder_and_an_unreadable_intro_are_problems(open_folder):
    songs = open_folder / "songs"
    songs.mkdir(mode=0o700)
    write_tone(open_folder / "siren.ogg", 0.1, 440.0)
    (open_folder / "siren.ogg").chmod(0o600)
    path = write(open_folder, {"party": {"intro_sound": "siren.ogg"}})
    said = problems_as(NOBODY, path).splitlines()
    folders, intro = line_of(path, "- songs"), line_of(path, "intro_sound")
    siren = str(open_folder / "siren.ogg")
    assert said == [
        f"{path}:{folders}: songs.folders: folder {str(songs)!r} cannot be read: permission denied",
        f"{path}:{intro}: party.intro_sound: file {siren!r} cannot be read: permission denied",
    ]


def test_a_file_where_a_folder_belongs_and_a_folder_where_a_file_belongs(tmp_path):
    (tmp_path / "songs").write_text("not a folder")
    (tmp_path / "intro").mkdir()
    path = write(tmp_path, {"party": {"intro_sound": "intro"}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    folders, intro = line_of(path, "- songs"), line_of(path, "intro_sound")
    assert caught.value.problems == [
        f"{path}:{folders}: songs.folders: folder {str(tmp_path / 'songs')!r} is not a folder",
        f"{path}:{intro}: party.intro_sound: file {str(tmp_path / 'intro')!r} "
        "is not a regular file",
    ]


def test_a_path_through_a_file_does_not_exist(tmp_path):
    (tmp_path / "songs").write_text("a file")
    path = write(tmp_path, {"songs": {"folders": ["songs/more"]}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:{line_of(path, 'songs/more')}: songs.folders: folder "
        f"{str(tmp_path / 'songs/more')!r} does not exist: a part of its path is not a folder"
    ]
