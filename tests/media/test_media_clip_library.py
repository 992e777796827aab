"""Clips in the library: pairing with songs, the choice between the bags, the clips config."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from party_button.cli import main as cli
from party_button.config.schema import CLIP_EXTENSIONS, PI_MPV_OPTIONS, Config, load_config
from party_button.errors import ConfigError
from party_button.media.library import ScannedLibrary, SongLibrary, beat_source
from party_button.media.scan import FolderScanner
from party_button.song_file import file_stamp
from party_button.testing import write_tone

SONGS = ["ogg"]
CLIPS = ["mp4", "mkv"]


def touch(path: Path) -> Path:
    """An empty stand-in for a clip: the library looks at names, not contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def library(folder: Path, chance: float = 0.5, seed: int = 1) -> SongLibrary:
    """The library of ``folder``, scanned once."""
    songs = SongLibrary(seed=seed, clip_extensions=CLIPS, clip_chance=chance)
    ScannedLibrary(FolderScanner([folder], SONGS + CLIPS), songs).refresh()
    return songs


def test_render_output_pairs_with_its_song_by_name(tmp_path: Path) -> None:
    songs = [tmp_path / "Foo.ogg", tmp_path / "bar.ogg", tmp_path / "other" / "foo.mp3"]
    clips = [
        tmp_path / "foo.outlined.mp4",  # render's NAME.outlined.mp4, case ignored
        tmp_path / "other" / "foo.mkv",  # the song in its own folder wins
        tmp_path / "baz.outlined.mp4",  # no such song
        tmp_path / "bar.outlined.extra.mp4",  # not NAME or NAME.outlined
    ]
    lib = SongLibrary(clip_extensions=["mp4", "mkv"])
    lib.change([str(path) for path in songs + clips], [])
    assert [lib.paired_song(clip) for clip in clips] == [songs[0], songs[2], None, None]
    assert len(lib) == 5  # foo.mp3 and Foo.ogg play as their clips
    lib.change([], [str(songs[2])])  # the clip in other/ pairs with the song left
    assert lib.paired_song(clips[1]) == songs[0]


def test_a_paired_song_plays_as_its_clip_and_never_twice_in_a_row(song_folder: Path) -> None:
    clip = touch(song_folder / "song0.outlined.mp4")
    touch(song_folder / "song0.outlined.json")  # render's sidecar is not part of the playlist
    lib = library(song_folder)
    assert lib.paired_song(clip) == song_folder / "song0.ogg"
    assert len(lib) == 3 and lib.clip_count == 1
    picks = [lib.next_song() for _ in range(30)]
    names = {p.name for p in picks if p is not None}
    assert names == {"song1.ogg", "song2.ogg", "song0.outlined.mp4"}
    assert all(a != b for a, b in itertools.pairwise(picks))


def test_songs_only_when_clips_are_off_brings_the_paired_song_back(song_folder: Path) -> None:
    touch(song_folder / "song0.outlined.mp4")
    lib = library(song_folder, chance=1.0)
    lib.use_clips(False)
    assert lib.clip_count == 0
    assert {lib.next_song() for _ in range(3)} == {song_folder / f"song{i}.ogg" for i in range(3)}


def test_a_broken_clip_gives_its_song_back_until_the_clip_changes(song_folder: Path) -> None:
    clip = touch(song_folder / "song0.outlined.mp4")
    songs = SongLibrary(seed=1, clip_extensions=CLIPS, clip_chance=1.0)
    lib = ScannedLibrary(FolderScanner([song_folder], SONGS + CLIPS), songs)
    lib.refresh()
    songs.set_aside(str(clip), file_stamp(clip))
    assert songs.clip_count == 0
    assert song_folder / "song0.ogg" in {songs.next_song() for _ in range(3)}
    lib.refresh()
    assert songs.clip_count == 0  # unchanged: still aside
    clip.write_bytes(b"a fixed clip")
    os.utime(clip, (1, 1))
    lib.refresh()
    assert songs.next_song() == clip


@pytest.mark.parametrize(("chance", "low", "high"), [(0.0, 0, 0), (0.3, 0.25, 0.35), (1.0, 1, 1)])
def test_chance_is_the_share_of_presses_that_pick_a_clip(
    tmp_path: Path, chance: float, low: float, high: float
) -> None:
    for index in range(4):
        write_tone(tmp_path / f"s{index}.ogg", 0.05)
        touch(tmp_path / f"c{index}.mp4")
    lib = library(tmp_path, chance=chance, seed=3)
    picks = [lib.next_song() for _ in range(500)]
    share = sum(p is not None and p.suffix == ".mp4" for p in picks) / len(picks)
    assert low <= share <= high
    # Within each kind the shuffle bag stays fair: every clip once before any repeats.
    clips = [p for p in picks if p is not None and p.suffix == ".mp4"]
    for start in range(0, len(clips) - 3, 4):
        assert len(set(clips[start : start + 4])) == 4


def test_same_seed_same_playlist(song_folder: Path) -> None:
    for index in range(3):
        touch(song_folder / f"clip{index}.mkv")

    def order(seed: int) -> list[Path | None]:
        lib = library(song_folder, seed=seed)
        return [lib.next_song() for _ in range(12)]

    assert order(5) == order(5)
    assert order(5) != order(6)


def test_when_one_kind_is_missing_the_other_plays(song_folder: Path, tmp_path: Path) -> None:
    only_songs = library(song_folder, chance=1.0)
    assert {only_songs.next_song() for _ in range(3)} == set(song_folder.glob("song*.ogg"))
    clips_folder = tmp_path / "clips"
    clip = touch(clips_folder / "only.mp4")
    assert library(clips_folder, chance=0.0).next_song() == clip


def test_songs_only_picks_skip_clips(song_folder: Path) -> None:
    touch(song_folder / "clip.mp4")
    lib = library(song_folder, chance=1.0)
    picks = [lib.next_song(clips=False) for _ in range(6)]
    assert {pick.suffix if pick else None for pick in picks} == {".ogg"}


def test_a_clip_follows_its_own_beat_grid_or_else_its_songs(song_folder: Path) -> None:
    paired = touch(song_folder / "song0.outlined.mp4")
    alone = touch(song_folder / "alone.mp4")
    lib = library(song_folder)

    def source(item: Path) -> Path:
        return beat_source(item, lib.paired_song(item))

    assert source(paired) == song_folder / "song0.ogg"
    assert source(alone) == alone
    assert source(song_folder / "song1.ogg") == song_folder / "song1.ogg"
    touch(song_folder / "song0.outlined.mp4.beats.json")
    assert source(paired) == paired


def test_songs_command_lists_clips_in_playing_order(
    make_config: Callable[..., Config], song_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    touch(song_folder / "song1.outlined.mp4")
    config = make_config({"clips": {"chance": 0.5}})
    assert cli.main(["songs", "--config", str(config.path), "--seed", "2", "--count", "8"]) == 0
    names = {Path(line.split()[1]).name for line in capsys.readouterr().out.splitlines()}
    assert names == {"song0.ogg", "song1.outlined.mp4", "song2.ogg"}  # not song1.ogg


# -- the clips section of the config ---------------------------------------------------------


def test_clips_section_defaults(make_config: Callable[..., Config]) -> None:
    clips = make_config().clips
    assert clips.enabled and clips.chance == 0.3 and clips.mpv == "mpv"
    assert clips.extensions == CLIP_EXTENSIONS
    assert clips.mpv_options == PI_MPV_OPTIONS


def test_clips_section_is_read(make_config: Callable[..., Config]) -> None:
    clips = make_config(
        {
            "clips": {
                "enabled": False,
                "chance": 1,
                "extensions": ["MKV", ".webm"],
                "mpv": "/opt/mpv/bin/mpv",
                "mpv_options": [],
            }
        }
    ).clips
    assert not clips.enabled and clips.chance == 1
    assert clips.extensions == ("mkv", "webm")
    assert clips.mpv == "/opt/mpv/bin/mpv" and clips.mpv_options == ()


def test_clips_section_problems_are_all_reported(tmp_path: Path, song_folder: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "button: {pin: 17}\n"
        "relays: [{name: lights, pin: 5}]\n"
        "clips:\n"
        "  chance: 1.5\n"
        "  extensions: [mp4, ogg]\n"
        "  mpv_options:\n"
        "    - vo=gpu\n"
        "    - --idle=no\n"
        "    - --no-config\n"
        "  mpv_option: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [line.removeprefix(f"{path}:") for line in caught.value.problems] == [
        "4: clips.chance: must be at most 1, got 1.5",
        "5: clips.extensions: 'ogg' is not a video format (use mp4, mkv, webm, mov, m4v)",
        "7: clips.mpv_options: expected an mpv option such as --hwdec=auto-safe, got 'vo=gpu'",
        "8: clips.mpv_options: '--idle=no': party-button sets --idle itself",
        "9: clips.mpv_options: '--no-config': party-button sets --config itself",
        "10: clips.mpv_option: unknown key (did you mean 'mpv_options'?)",
    ]
