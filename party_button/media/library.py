"""The songs library: which songs and clips there are, and which one comes next.

Everything here costs the same however big the library is: a pick, an added or removed file,
a song set aside are each a few dictionary operations (a new round of the shuffle bag copies
the library once, once per round). Files are found by :mod:`party_button.media.scan`;
:class:`SongLibrary` only keeps what it is told and deals from shuffle bags.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Hashable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from party_button.beats.grid import grid_path
from party_button.media.scan import Changes, FolderScanner
from party_button.song_file import FileStamp, file_stamp

if TYPE_CHECKING:
    from party_button.config.schema import Config

# What ``party-button render`` adds to a clip's name: ``NAME.outlined.mp4``.
RENDERED_MARK = ".outlined"

Item = TypeVar("Item", bound=Hashable)


def _never() -> bool:
    return False


class ShuffleBag(Generic[Item]):
    """Deals items so that every item comes once before any repeats.

    With ``no_repeat`` an item never follows itself, not even across rounds. Items can join
    (:meth:`add`, into the current round) and leave (:meth:`discard`) at any time; each
    operation costs the same however many items there are.

    >>> bag = ShuffleBag(["a", "b", "c"], seed=1)
    >>> sorted(bag.pick() for _ in range(3))
    ['a', 'b', 'c']
    """

    def __init__(
        self, items: Iterable[Item] = (), *, seed: int | None = None, no_repeat: bool = True
    ) -> None:
        self._random = random.Random(seed)
        self._no_repeat = no_repeat
        self._known: dict[Item, None] = {}  # every item, in the order it joined
        self._round: list[Item] = []  # what is left of this round
        self._where: dict[Item, int] = {}  # index of each item in ``_round``
        self._next: Item | None = None
        self._last: Item | None = None
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, item: object) -> bool:
        return item in self._known

    @property
    def last(self) -> Item | None:
        """The item picked most recently."""
        return self._last

    def add(self, item: Item) -> None:
        """Let ``item`` join; it comes in the current round."""
        if item not in self._known:
            self._known[item] = None
            self._where[item] = len(self._round)
            self._round.append(item)

    def discard(self, item: Item) -> None:
        """Let ``item`` leave, if it is here."""
        if self._known.pop(item, 0) is None:
            self._take_out(item)
            if self._next == item:
                self._next = None

    def peek(self) -> Item | None:
        """The item that :meth:`pick` gives next (chosen now, and kept), or None when empty."""
        if self._next is None and self._known:
            self._next = self._choose()
        return self._next

    def pick(self) -> Item | None:
        """The next item, or ``None`` for an empty bag."""
        item = self.peek()
        self._next = None
        if item is not None:
            self._last = item
        return item

    def forget_next(self) -> None:
        """Choose :meth:`peek`'s item again (it goes back into this round)."""
        if self._next is not None:
            self._put_in(self._next)
            self._next = None

    def _choose(self) -> Item:
        """Take a random item out of this round, starting a new round when it is used up."""
        last = self._last if self._no_repeat and len(self._known) > 1 else None
        if not self._round or (len(self._round) == 1 and self._round[0] == last):
            # Only the item just picked is left (it came back after leaving): a new round.
            self._round = list(self._known)
            self._where = {item: index for index, item in enumerate(self._round)}
        index = self._random.randrange(len(self._round))
        if self._round[index] == last:
            index = (index + 1 + self._random.randrange(len(self._round) - 1)) % len(self._round)
        item = self._round[index]
        self._take_out(item)
        return item

    def _put_in(self, item: Item) -> None:
        self._where[item] = len(self._round)
        self._round.append(item)

    def _take_out(self, item: Item) -> None:
        """Remove ``item`` from this round by swapping the round's last item into its place."""
        index = self._where.pop(item, None)
        if index is None:
            return
        moved = self._round.pop()
        if moved != item:
            self._round[index] = moved
            self._where[moved] = index


def pairing_name(clip: str | os.PathLike[str]) -> str:
    """The song name that ``clip`` pairs with: its name less the extension and ``.outlined``."""
    stem = os.path.splitext(os.path.basename(clip))[0]
    if stem.lower().endswith(RENDERED_MARK):
        stem = stem[: -len(RENDERED_MARK)]
    return stem.casefold()


def song_name(song: str | os.PathLike[str]) -> str:
    """The name a clip must have to pair with ``song``: its name less the extension."""
    return os.path.splitext(os.path.basename(song))[0].casefold()


def pair_for(clip: str, songs: Iterable[str]) -> str | None:
    """The song of ``songs`` (all of ``clip``'s name) that the clip plays: one in its own
    folder first, else the first by path."""
    folder = os.path.dirname(clip)
    candidates = sorted(songs)
    nearby = [song for song in candidates if os.path.dirname(song) == folder]
    return (nearby or candidates or [None])[0]


def beat_source(item: Path, paired: Path | None) -> Path:
    """The file whose beat grid (``FILE.beats.json``) the light show follows for ``item``.

    A clip without a grid of its own follows the grid of its paired song.
    """
    if paired is None or grid_path(item).is_file():
        return item
    return paired


class SongLibrary:
    """The songs and clips there are, shuffle bags over them, and the files set aside.

    :meth:`change` tells the library which files were added and removed (by a
    :class:`~party_button.media.scan.FolderScanner`). A file set aside (:meth:`set_aside`)
    stays out of the bags until :meth:`recheck` finds that it changed on disk, so a corrupt
    song is reported once, not at every party.

    Clips (files with ``clip_extensions``) have a shuffle bag of their own; a pick takes a
    clip with probability ``clip_chance`` (a seeded coin), or from the other bag when one is
    empty. A song paired with a clip (:func:`pairing_name`) plays as that clip: it leaves the
    songs bag while the clip is playable and clips are in use, so one track never plays twice
    in a round. Paths are kept as strings (less memory than ``Path`` objects).
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        no_repeat: bool = True,
        clip_extensions: Sequence[str] = (),
        clip_chance: float = 0.0,
    ) -> None:
        self.clip_extensions = frozenset(f".{ext.lower().lstrip('.')}" for ext in clip_extensions)
        self.clip_chance = clip_chance
        self.clips_on = bool(self.clip_extensions)
        self._no_repeat = no_repeat
        self._last: str | None = None
        seeds = random.Random(seed)
        self._songs: ShuffleBag[str] = ShuffleBag(seed=seed, no_repeat=no_repeat)
        clip_seed = None if seed is None else seeds.getrandbits(64)
        self._clips: ShuffleBag[str] = ShuffleBag(seed=clip_seed, no_repeat=no_repeat)
        self._coin = random.Random(None if seed is None else seeds.getrandbits(64))
        self._present: set[str] = set()  # every file found, set aside or not
        self._set_aside: dict[str, FileStamp | None] = {}
        # Pairing, kept only while there are clip extensions: files by the name they pair on.
        # Tuples of strings, which the garbage collector does not track: a big library adds
        # nothing to the pauses of a full collection.
        self._songs_named: dict[str, tuple[str, ...]] = {}
        self._clips_named: dict[str, tuple[str, ...]] = {}
        self._pairs: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._songs) + len(self._clips)

    @property
    def clip_count(self) -> int:
        """How many clips are in the clips bag (0 while clips are off)."""
        return len(self._clips)

    @property
    def set_aside_count(self) -> int:
        """How many files are set aside."""
        return len(self._set_aside)

    def is_clip(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a clip (by its extension) rather than a song."""
        return os.path.splitext(path)[1].lower() in self.clip_extensions

    def change(self, added: Iterable[str], removed: Iterable[str]) -> None:
        """Files were added to and removed from the folders."""
        names: set[str] = set()
        for path in removed:
            self._present.discard(path)
            self._set_aside.pop(path, None)
            self._leave(path, names)
        for path in added:
            self._present.add(path)
            if path not in self._set_aside:
                self._join(path, names)
        self._settle(names)

    def use_clips(self, on: bool) -> None:
        """Let clips take part (``True``) or play songs only, paired songs included."""
        on = on and bool(self.clip_extensions)
        if on == self.clips_on:
            return
        self.clips_on = on
        playable = [path for path in self._present if path not in self._set_aside]
        for path in playable:
            if self.is_clip(path):
                (self._clips.add if on else self._clips.discard)(path)
        self._settle({pairing_name(path) for path in playable if self.is_clip(path)})

    def set_aside(self, path: str, stamp: FileStamp | None) -> None:
        """Keep ``path`` (a song or clip that failed) out of the bags until its stamp changes."""
        if path in self._present:
            self._set_aside[path] = stamp
            names: set[str] = set()
            self._leave(path, names)
            self._settle(names)

    def set_aside_files(self) -> dict[str, FileStamp | None]:
        """The files set aside and the stamps they had (a copy)."""
        return dict(self._set_aside)

    def recheck(self, stamps: dict[str, FileStamp | None]) -> list[str]:
        """Bring back the files set aside whose stamp (now ``stamps[path]``) changed."""
        back = [
            path
            for path, stamp in stamps.items()
            if path in self._set_aside and self._set_aside[path] != stamp
        ]
        names: set[str] = set()
        for path in back:
            del self._set_aside[path]
            self._join(path, names)
        self._settle(names)
        return back

    def peek(self, *, clips: bool = True) -> list[str]:
        """The items that the next pick chooses from: the next song and the next clip."""
        return [
            item
            for bag in (self._songs, self._clips if clips else None)
            if bag is not None and (item := bag.peek()) is not None
        ]

    def forget_next(self) -> None:
        """Choose the items that come next again (the library is complete now)."""
        self._songs.forget_next()
        self._clips.forget_next()

    def next_item(self, *, clips: bool = True) -> str | None:
        """The next song or clip (only songs with ``clips=False``); None when there is none."""
        bags = [bag for bag in (self._songs, self._clips if clips else None) if bag]
        if not bags:
            return None
        if len(bags) == 2 and self._coin.random() < self.clip_chance:
            bags.reverse()
        alone = len(bags) == 2 and len(bags[0]) == 1 and self._last is not None
        if self._no_repeat and alone and bags[0].peek() == self._last:
            bags.reverse()  # the only item of the chosen bag has just played
        self._last = bags[0].pick()
        return self._last

    def next_song(self, *, clips: bool = True) -> Path | None:
        """:meth:`next_item` as a path."""
        item = self.next_item(clips=clips)
        return Path(item) if item is not None else None

    def paired_song(self, clip: str | os.PathLike[str]) -> Path | None:
        """The song whose audio ``clip`` plays, if it has one in the library."""
        song = self._pairs.get(os.fspath(clip))
        return Path(song) if song is not None else None

    # -- bags and pairs --------------------------------------------------------------------

    def _join(self, path: str, names: set[str]) -> None:
        """A playable file: into its bag, and into the pairing tables."""
        if not self.clip_extensions:
            self._songs.add(path)
        elif self.is_clip(path):
            name = pairing_name(path)
            if self.clips_on:
                self._clips.add(path)
            self._clips_named[name] = (*self._clips_named.get(name, ()), path)
            names.add(name)
        else:
            name = song_name(path)
            self._songs_named[name] = (*self._songs_named.get(name, ()), path)
            if name in self._clips_named:
                names.add(name)  # a clip of its name may play it instead
            else:
                self._songs.add(path)

    def _leave(self, path: str, names: set[str]) -> None:
        """A file that is no longer playable: out of its bag and the pairing tables."""
        clip = self.is_clip(path)
        (self._clips if clip else self._songs).discard(path)
        if not self.clip_extensions:
            return
        name = pairing_name(path) if clip else song_name(path)
        table = self._clips_named if clip else self._songs_named
        group = tuple(other for other in table.get(name, ()) if other != path)
        if group:
            table[name] = group
        else:
            table.pop(name, None)
        if clip:
            self._pairs.pop(path, None)
        if name in self._clips_named or clip:
            names.add(name)

    def _settle(self, names: set[str]) -> None:
        """Pair again the clips and songs called ``names``; a paired song leaves the bag."""
        for name in names:
            songs = self._songs_named.get(name, ())
            paired: set[str] = set()
            for clip in self._clips_named.get(name, ()):
                song = pair_for(clip, songs)
                if song is None:
                    self._pairs.pop(clip, None)
                    continue
                self._pairs[clip] = song
                if self.clips_on:
                    paired.add(song)
            for song in songs:
                (self._songs.discard if song in paired else self._songs.add)(song)


class ScannedLibrary:
    """A :class:`SongLibrary` and the :class:`FolderScanner` that fills it.

    ``lock`` guards the library while another thread reads it; the folders are scanned and
    the files looked at outside it, so the lock is only ever held for a batch of changes.
    """

    def __init__(
        self,
        scanner: FolderScanner,
        library: SongLibrary,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.scanner = scanner
        self.library = library
        self.lock = lock or contextlib.nullcontext()

    def refresh(self, changed: Changes | None = None, stop: Callable[[], bool] = _never) -> bool:
        """Scan the folders again and bring back set-aside files that changed; returns
        whether anything was added, removed or brought back.

        ``changed(added, removed)`` hears each batch of changes after the library took it;
        ``stop()`` ends the pass early (the changes found so far are kept).
        """
        anything = False

        def take(added: list[str], removed: list[str]) -> None:
            nonlocal anything
            anything = anything or bool(added or removed)
            with self.lock:
                self.library.change(added, removed)
            if changed is not None:
                changed(added, removed)

        self.scanner.scan(take, stop)
        with self.lock:
            aside = self.library.set_aside_files()
        stamps = {path: file_stamp(path) for path in aside}
        with self.lock:
            back = self.library.recheck(stamps)
        if changed is not None and back:
            changed(back, [])
        return anything or bool(back)


def library_parts(config: Config, *, seed: int | None = None) -> tuple[FolderScanner, SongLibrary]:
    """The scanner and the (empty) library that ``config`` describes; the intro and fallback
    sounds are not songs."""
    clips = config.clips
    clip_extensions = clips.extensions if clips.enabled else ()
    scanner = FolderScanner(
        config.songs.folders,
        (*config.songs.extensions, *clip_extensions),
        exclude=config.effect_sounds,
    )
    library = SongLibrary(
        seed=seed,
        no_repeat=config.songs.no_repeat,
        clip_extensions=clip_extensions,
        clip_chance=clips.chance,
    )
    return scanner, library


def scanned_library(config: Config, *, seed: int | None = None) -> ScannedLibrary:
    """The library of ``config``, scanned once."""
    scanned = ScannedLibrary(*library_parts(config, seed=seed))
    scanned.refresh()
    return scanned
