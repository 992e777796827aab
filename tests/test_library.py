"""Scanning the songs library and the shuffle bag."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from party_button.library import ShuffleBag, SongLibrary, scan_library
from tests.conftest import write_tone


def test_scan_finds_accepted_files_recursively(song_folder: Path) -> None:
    (song_folder / "notes.txt").write_text("not a song")
    (song_folder / "sub").mkdir()
    write_tone(song_folder / "sub" / "deep.WAV", 0.1)
    write_tone(song_folder / "intro" / "siren.ogg", 0.1)
    write_tone(song_folder / "intro" / "other.ogg", 0.1)
    found = scan_library([song_folder], ["ogg", "wav"], exclude=[song_folder / "intro/siren.ogg"])
    names = [path.relative_to(song_folder).as_posix() for path in found]
    assert names == ["intro/other.ogg", "song0.ogg", "song1.ogg", "song2.ogg", "sub/deep.WAV"]


def test_scan_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert scan_library([tmp_path / "gone"], ["ogg"]) == []


@pytest.mark.parametrize("seed", range(20))
def test_every_song_once_per_round_and_never_twice_in_a_row(seed: int) -> None:
    songs = [f"s{i}" for i in range(5)]
    bag = ShuffleBag(songs, seed=seed)
    picks = [bag.pick() for _ in range(50)]
    for start in range(0, 50, 5):
        assert sorted(picks[start : start + 5]) == songs
    assert all(a != b for a, b in itertools.pairwise(picks))


def test_two_songs_alternate_across_reshuffles() -> None:
    bag = ShuffleBag(["a", "b"], seed=3)
    picks = [bag.pick() for _ in range(20)]
    assert all(a != b for a, b in itertools.pairwise(picks))


def test_repeats_allowed_when_no_repeat_is_off() -> None:
    seen_repeat = False
    for seed in range(40):
        bag = ShuffleBag(["a", "b", "c"], seed=seed, no_repeat=False)
        picks = [bag.pick() for _ in range(9)]
        seen_repeat |= any(a == b for a, b in itertools.pairwise(picks))
    assert seen_repeat


def test_same_seed_same_order() -> None:
    def order(seed: int) -> list[object]:
        bag = ShuffleBag([f"s{i}" for i in range(8)], seed=seed)
        return [bag.pick() for _ in range(16)]

    assert order(7) == order(7)
    assert order(7) != order(8)


def test_empty_bag_gives_none() -> None:
    assert ShuffleBag([]).pick() is None


def test_update_drops_removed_and_adds_new_to_this_round() -> None:
    bag = ShuffleBag(["a", "b", "c"], seed=1)
    first = bag.pick()
    remaining = {"a", "b", "c"} - {first}
    gone = sorted(remaining)[0]
    bag.update([item for item in ["a", "b", "c", "d"] if item != gone])
    rest = {bag.pick() for _ in range(2)}
    assert rest == (remaining - {gone}) | {"d"}


def test_library_notices_new_and_removed_files(song_folder: Path) -> None:
    library = SongLibrary([song_folder], ["ogg"])
    assert len(library) == 3
    write_tone(song_folder / "new.ogg", 0.1)
    (song_folder / "song0.ogg").unlink()
    picks = {library.next_song() for _ in range(3)}
    assert {p.name for p in picks} == {"new.ogg", "song1.ogg", "song2.ogg"}


def test_broken_song_is_set_aside_until_it_changes(song_folder: Path) -> None:
    library = SongLibrary([song_folder], ["ogg"])
    broken = song_folder / "song1.ogg"
    library.mark_broken(broken)
    assert len(library) == 2
    assert broken not in {library.next_song() for _ in range(6)}
    write_tone(broken, 0.2)
    os.utime(broken, (1, 1))
    assert len(library.refresh()) == 3
