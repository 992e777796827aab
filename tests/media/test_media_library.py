"""Scanning the songs folders, hostile trees included, the shuffle bag and the library."""

from __future__ import annotations

import itertools
import logging
import os
import pwd
import shutil
from pathlib import Path

import pytest

from party_button.media import scan as library_scan
from party_button.media.library import ScannedLibrary, ShuffleBag, SongLibrary
from party_button.media.scan import FolderScanner, scan_library
from party_button.song_file import file_stamp
from party_button.testing import tiny_song, write_tone
from party_button.testing.library import (
    NOT_UTF8,
    SHOWN_NOT_UTF8,
    StrictUtf8Handler,
    fifo,
    in_child,
    null_device,
    world_readable_folder,
)


def names(paths: list[str], folder: Path) -> list[str]:
    return [Path(path).relative_to(folder).as_posix() for path in paths]


class Changes:
    """Collects what a scanner hands on."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.removed: list[str] = []

    def __call__(self, added: list[str], removed: list[str]) -> None:
        self.added += added
        self.removed += removed


def scan(scanner: FolderScanner) -> Changes:
    changes = Changes()
    scanner.scan(changes)
    return changes


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_scan_finds_accepted_files_recursively(song_folder: Path) -> None:
    (song_folder / "notes.txt").write_text("not a song")
    (song_folder / "sub").mkdir()
    write_tone(song_folder / "sub" / "deep.WAV", 0.1)
    write_tone(song_folder / "intro" / "siren.ogg", 0.1)
    write_tone(song_folder / "intro" / "other.ogg", 0.1)
    found = scan_library([song_folder], ["ogg", "wav"], exclude=[song_folder / "intro/siren.ogg"])
    assert names(found, song_folder) == [
        "intro/other.ogg",
        "song0.ogg",
        "song1.ogg",
        "song2.ogg",
        "sub/deep.WAV",
    ]


def test_a_missing_songs_folder_is_empty_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scanner = FolderScanner([tmp_path / "gone"], ["ogg"])
    assert scan(scanner).added == []
    scan(scanner)
    assert warnings(caplog) == [
        f"songs folder {tmp_path / 'gone'}: no such file; its songs are left out until it is back"
    ]


def test_a_pass_over_an_unchanged_library_hands_on_nothing(song_folder: Path) -> None:
    scanner = FolderScanner([song_folder], ["ogg"])
    assert len(scan(scanner).added) == 3
    first = song_folder / "song0.ogg"
    first.write_bytes(first.read_bytes())  # changed in place: the folder is the same
    changes = scan(scanner)
    assert (changes.added, changes.removed) == ([], [])


def test_passes_hand_on_added_removed_and_renamed_files(song_folder: Path) -> None:
    scanner = FolderScanner([song_folder], ["ogg"])
    scan(scanner)
    tiny_song(song_folder / "album" / "new.ogg")
    (song_folder / "song1.ogg").rename(song_folder / "renamed.ogg")
    changes = scan(scanner)
    assert sorted(names(changes.added, song_folder)) == ["album/new.ogg", "renamed.ogg"]
    assert names(changes.removed, song_folder) == ["song1.ogg"]
    shutil.rmtree(song_folder / "album")
    assert names(scan(scanner).removed, song_folder) == ["album/new.ogg"]
    assert len(scanner) == 3


def test_a_songs_folder_that_goes_and_comes_back(
    song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    scanner = FolderScanner([song_folder], ["ogg"])
    scan(scanner)
    moved = song_folder.with_name("elsewhere")
    song_folder.rename(moved)  # unmounted
    assert len(scan(scanner).removed) == 3
    song_folder.mkdir()  # an empty mount point
    assert scan(scanner).added == []
    shutil.rmtree(song_folder)
    moved.rename(song_folder)  # mounted again: the same path is another folder
    assert len(scan(scanner).added) == 3
    assert warnings(caplog) == [
        f"songs folder {song_folder}: no such file; its songs are left out until it is back"
    ]
    assert f"songs folder {song_folder} is back" in caplog.messages


def test_hostile_files_are_named_once_and_never_opened(
    song_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (song_folder / "a.ogg").symlink_to("b.ogg")
    (song_folder / "b.ogg").symlink_to("a.ogg")
    (song_folder / "loop").symlink_to(".")  # a folder that contains itself
    (song_folder / "dangling.ogg").symlink_to("nowhere.ogg")
    fifo(song_folder / "pipe.ogg")  # opening it would wait forever
    device = null_device(song_folder / "device.ogg")
    (song_folder / "folder.ogg").mkdir()  # a folder with a song's name is searched
    tiny_song(song_folder / "folder.ogg" / "inside.ogg")
    tiny_song(song_folder / "._song0.ogg")  # macOS's companion file: hidden
    tiny_song(song_folder / NOT_UTF8)
    scanner = FolderScanner([song_folder], ["ogg"])
    found = scan(scanner).added
    assert sorted(names(found, song_folder)) == sorted(
        ["song0.ogg", "song1.ogg", "song2.ogg", "folder.ogg/inside.ogg", NOT_UTF8]
    )
    scan(scanner)  # a second pass names nothing again
    expected = [
        f"not a song: {song_folder / 'a.ogg'}: a symlink loop",
        f"not a song: {song_folder / 'b.ogg'}: a symlink loop",
        f"not a song: {song_folder / 'dangling.ogg'}: a broken link (its target is missing)",
        f"not a song: {song_folder / 'pipe.ogg'}: a FIFO (named pipe), not a file",
        f"not a song: {song_folder / 'loop'}: the same folder as {song_folder} "
        "(a link loop?): not entered again",
    ]
    if device is not None:
        expected.append(f"not a song: {device}: a character device, not a file")
    assert sorted(warnings(caplog)) == sorted(expected)


def test_names_that_are_not_utf8_are_logged_escaped(song_folder: Path) -> None:
    (song_folder / NOT_UTF8).symlink_to("missing.ogg")
    handler = StrictUtf8Handler()
    logging.getLogger("party_button").addHandler(handler)
    try:
        scan_library([song_folder], ["ogg"])
    finally:
        logging.getLogger("party_button").removeHandler(handler)
    assert handler.lines == [
        f"not a song: {song_folder}/{SHOWN_NOT_UTF8}: a broken link (its target is missing)"
    ]


def test_a_link_whose_target_comes_back_becomes_a_song(song_folder: Path) -> None:
    target = song_folder.parent / "usb" / "far.ogg"
    (song_folder / "far.ogg").symlink_to(target)
    scanner = FolderScanner([song_folder], ["ogg"])
    assert len(scan(scanner).added) == 3
    tiny_song(target)  # the stick is plugged in: the folder holding the link did not change
    assert names(scan(scanner).added, song_folder) == ["far.ogg"]


def test_limits_on_files_and_depth_are_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(library_scan, "MAX_FILES", 4)
    monkeypatch.setattr(library_scan, "MAX_DEPTH", 2)
    for index in range(6):
        tiny_song(tmp_path / f"s{index}.ogg")
    deep = tmp_path / "a" / "b" / "c"
    tiny_song(deep / "too-deep.ogg")
    scanner = FolderScanner([tmp_path], ["ogg"])
    assert len(scan(scanner).added) == 4
    scan(scanner)
    assert warnings(caplog) == [
        f"not a song: {tmp_path / 'a' / 'b'}: deeper than 2 folders: not searched further",
        "more than 4 songs and clips: the rest are left out",
    ]


def test_unreadable_folders_are_named_and_read_when_allowed_again() -> None:
    folder = world_readable_folder()
    try:
        tiny_song(folder / "open.ogg")
        locked = folder / "locked"
        tiny_song(locked / "hidden.ogg")
        if os.geteuid() == 0:  # the child runs as nobody: the service's user owns the folder
            nobody = pwd.getpwnam("nobody")
            os.chown(locked, nobody.pw_uid, nobody.pw_gid)

        def two_passes() -> tuple[list[str], list[str], list[str]]:
            handler = StrictUtf8Handler()
            logging.getLogger("party_button").addHandler(handler)
            locked.chmod(0)  # not even its owner may read it
            scanner = FolderScanner([folder], ["ogg"])
            first = scan(scanner).added
            locked.chmod(0o755)  # read again: the folder's time did not change
            second = scan(scanner).added
            return names(first, folder), names(second, folder), handler.lines

        first, second, messages = in_child(two_passes, as_nobody=True)
    finally:
        shutil.rmtree(folder)
    assert first == ["open.ogg"]
    assert second == ["locked/hidden.ogg"]
    assert messages == [f"not a song: {locked}: the folder cannot be read (permission denied)"]


# -- the shuffle bag --------------------------------------------------------------------------


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


def test_items_join_this_round_and_leave_at_once() -> None:
    bag = ShuffleBag(["a", "b", "c"], seed=1)
    first = bag.pick()
    remaining = {"a", "b", "c"} - {first}
    gone = sorted(remaining)[0]
    bag.discard(gone)
    bag.add("d")
    rest = {bag.pick() for _ in range(2)}
    assert rest == (remaining - {gone}) | {"d"}


def test_peek_is_the_next_pick_and_follows_a_discard() -> None:
    bag = ShuffleBag([f"s{i}" for i in range(6)], seed=4)
    upcoming = bag.peek()
    assert bag.peek() == upcoming
    bag.discard(upcoming)
    replacement = bag.peek()
    assert replacement not in (None, upcoming)
    assert bag.pick() == replacement


def test_a_big_bag_deals_each_item_once_per_round_while_it_changes() -> None:
    bag = ShuffleBag(range(20_000), seed=2)
    picked = [bag.pick() for _ in range(10_000)]
    for item in range(20_000, 20_100):
        bag.add(item)
    for item in range(0, 20_000, 2):
        bag.discard(item)
    picked += [bag.pick() for _ in range(len(bag) - len(set(picked) - set(range(0, 20_000, 2))))]
    assert len(picked) == len(set(picked))
    assert set(range(20_000, 20_100)) <= set(picked)
    assert len(bag) == 10_100


# -- the library --------------------------------------------------------------------------------


def scanned(folder: Path) -> ScannedLibrary:
    library = ScannedLibrary(FolderScanner([folder], ["ogg"]), SongLibrary(seed=1))
    library.refresh()
    return library


def test_library_notices_new_and_removed_files(song_folder: Path) -> None:
    library = scanned(song_folder)
    assert len(library.library) == 3
    write_tone(song_folder / "new.ogg", 0.1)
    (song_folder / "song0.ogg").unlink()
    library.refresh()
    picks = {library.library.next_song() for _ in range(3)}
    assert {p.name for p in picks if p} == {"new.ogg", "song1.ogg", "song2.ogg"}


def test_broken_song_is_set_aside_until_it_changes(song_folder: Path) -> None:
    library = scanned(song_folder)
    broken = song_folder / "song1.ogg"
    library.library.set_aside(str(broken), file_stamp(broken))
    assert len(library.library) == 2
    library.refresh()
    assert broken not in {library.library.next_song() for _ in range(6)}
    write_tone(broken, 0.2)
    os.utime(broken, (1, 1))
    library.refresh()
    assert len(library.library) == 3
