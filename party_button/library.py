"""The songs library: finding songs and clips, and choosing the next one from shuffle bags."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from party_button.beats import sidecar_path

if TYPE_CHECKING:
    from party_button.config import Config

log = logging.getLogger(__name__)

# What ``party-button render`` adds to a clip's name: ``NAME.outlined.mp4``.
RENDERED_MARK = ".outlined"


def scan_library(
    folders: Iterable[Path], extensions: Iterable[str], exclude: Iterable[Path] = ()
) -> list[Path]:
    """Every file under ``folders`` whose extension is accepted, sorted, without ``exclude``.

    Unreadable folders are logged and skipped; a library is never fatal to scan.
    """
    accepted = {f".{ext.lower().lstrip('.')}" for ext in extensions}
    skipped = {path.resolve() for path in exclude}
    found: set[Path] = set()
    for folder in folders:
        try:
            candidates = list(folder.rglob("*"))
        except OSError as exc:
            log.warning("cannot scan songs folder %s: %s", folder, exc.strerror or exc)
            continue
        for path in candidates:
            if path.suffix.lower() in accepted and path.resolve() not in skipped and path.is_file():
                found.add(path)
    return sorted(found)


class ShuffleBag:
    """Deals songs so that every song plays once before any repeats.

    With ``no_repeat`` a song never follows itself, not even across reshuffles. The
    bag follows the library as it changes: :meth:`update` drops removed songs and adds
    new ones to the current round.

    >>> bag = ShuffleBag(["a", "b", "c"], seed=1)
    >>> sorted(bag.pick() for _ in range(3))
    ['a', 'b', 'c']
    """

    def __init__(
        self, items: Sequence[Path | str] = (), *, seed: int | None = None, no_repeat: bool = True
    ) -> None:
        self._random = random.Random(seed)
        self._no_repeat = no_repeat
        self._known: list[Path | str] = []
        self._bag: list[Path | str] = []
        self._last: Path | str | None = None
        self.update(items)

    def __len__(self) -> int:
        return len(self._known)

    @property
    def last(self) -> Path | str | None:
        """The item picked most recently."""
        return self._last

    def update(self, items: Sequence[Path | str]) -> None:
        """Follow a new library listing: removed items leave the bag, new ones join this round."""
        current = list(dict.fromkeys(items))
        present = set(current)
        added = [item for item in current if item not in set(self._known)]
        self._known = current
        self._bag = [item for item in self._bag if item in present]
        for item in added:
            self._bag.insert(self._random.randint(0, len(self._bag)), item)

    def pick(self) -> Path | str | None:
        """The next item, or ``None`` for an empty library."""
        if not self._known:
            return None
        if not self._bag:
            self._bag = list(self._known)
            self._random.shuffle(self._bag)
        if self._no_repeat and len(self._bag) > 1 and self._bag[-1] == self._last:
            swap = self._random.randrange(len(self._bag) - 1)
            self._bag[-1], self._bag[swap] = self._bag[swap], self._bag[-1]
        lone_repeat = len(self._bag) == 1 and self._bag[0] == self._last
        if self._no_repeat and lone_repeat and len(self._known) > 1:
            # Only the song just played is left in this round (it came back to the library
            # after failing): play it at the end of a fresh round instead.
            self._bag = [item for item in self._known if item != self._last]
            self._random.shuffle(self._bag)
            self._bag.insert(0, self._last)
        self._last = self._bag.pop()
        return self._last


def pairing_name(clip: Path) -> str:
    """The song name that ``clip`` pairs with: its name less the extension and ``.outlined``."""
    stem = clip.stem
    if stem.lower().endswith(RENDERED_MARK):
        stem = stem[: -len(RENDERED_MARK)]
    return stem.casefold()


def pair_clips(songs: Sequence[Path], clips: Sequence[Path]) -> dict[Path, Path]:
    """Each clip whose audio is a song of the library, mapped to that song.

    ``foo.outlined.mp4`` and ``foo.mp4`` pair with ``foo.ogg`` (any song extension, names
    compared ignoring case); a song in the clip's own folder wins over one elsewhere.
    """
    by_name: dict[str, list[Path]] = {}
    for song in songs:
        by_name.setdefault(song.stem.casefold(), []).append(song)
    pairs: dict[Path, Path] = {}
    for clip in clips:
        candidates = by_name.get(pairing_name(clip), [])
        if candidates:
            nearby = [song for song in candidates if song.parent == clip.parent]
            pairs[clip] = (nearby or candidates)[0]
    return pairs


class SongLibrary:
    """The songs folders, rescanned on every pick, with broken files set aside.

    A file that failed to play stays out of the bags until it changes on disk (a new
    size or modification time), so a corrupt song is reported once, not at every party.

    Clips (files with ``clip_extensions``) live in the same folders and have a shuffle bag
    of their own; a pick takes a clip with probability ``clip_chance`` (a seeded coin), or
    from the other bag when one is empty. A song paired with a clip (:func:`pair_clips`)
    plays as that clip: it leaves the songs bag while the clip is playable and clips are in
    use, so one track never plays twice in a round.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        extensions: Sequence[str],
        *,
        exclude: Sequence[Path] = (),
        seed: int | None = None,
        no_repeat: bool = True,
        clip_extensions: Sequence[str] = (),
        clip_chance: float = 0.0,
    ) -> None:
        self.folders = tuple(folders)
        self.extensions = tuple(extensions)
        self.exclude = tuple(exclude)
        self.clip_extensions = tuple(ext.lower().lstrip(".") for ext in clip_extensions)
        self.clip_chance = clip_chance
        self.clips_on = bool(self.clip_extensions)
        self._broken: dict[Path, tuple[float, int] | None] = {}
        self._no_repeat = no_repeat
        self._last: Path | str | None = None
        self._bag = ShuffleBag(seed=seed, no_repeat=no_repeat)
        seeds = random.Random(seed)
        clip_seed = None if seed is None else seeds.getrandbits(64)
        self._clip_bag = ShuffleBag(seed=clip_seed, no_repeat=no_repeat)
        self._coin = random.Random(None if seed is None else seeds.getrandbits(64))
        self._pairs: dict[Path, Path] = {}
        self.refresh()

    def __len__(self) -> int:
        return len(self._bag) + len(self._clip_bag)

    @property
    def clip_count(self) -> int:
        """How many clips are in the clips bag (0 while clips are off)."""
        return len(self._clip_bag)

    def is_clip(self, path: Path) -> bool:
        """Whether ``path`` is a clip (by its extension) rather than a song."""
        return path.suffix.lower().lstrip(".") in self.clip_extensions

    def use_clips(self, on: bool) -> None:
        """Let clips take part (``True``) or play songs only, paired songs included."""
        self.clips_on = on and bool(self.clip_extensions)
        self.refresh()

    def refresh(self) -> list[Path]:
        """Scan the folders again; returns the playable songs and clips."""
        found = [
            path
            for path in scan_library(
                self.folders, self.extensions + self.clip_extensions, self.exclude
            )
            if not self._still_broken(path)
        ]
        songs = [path for path in found if not self.is_clip(path)]
        clips = [path for path in found if self.is_clip(path)] if self.clips_on else []
        self._pairs = pair_clips(songs, clips)
        paired = set(self._pairs.values())
        songs = [song for song in songs if song not in paired]
        self._bag.update(songs)
        self._clip_bag.update(clips)
        return songs + clips

    def next_song(self, *, clips: bool = True) -> Path | None:
        """The next song or clip (only songs with ``clips=False``), noticing added files."""
        self.refresh()
        bags = [bag for bag in (self._bag, self._clip_bag if clips else None) if bag]
        if not bags:
            return None
        if len(bags) == 2 and self._coin.random() < self.clip_chance:
            bags.reverse()
        alone = len(bags) == 2 and len(bags[0]) == 1 and self._last is not None
        if self._no_repeat and alone and bags[0].last == self._last:
            bags.reverse()  # the only item of the chosen bag has just played
        self._last = bags[0].pick()
        return Path(self._last) if self._last is not None else None

    def paired_song(self, clip: Path) -> Path | None:
        """The song whose audio ``clip`` plays, if it has one in the library."""
        return self._pairs.get(clip)

    def beat_source(self, item: Path) -> Path:
        """The file whose beat grid (``FILE.beats.json``) the light show follows for ``item``.

        A clip without a grid of its own follows the grid of its paired song.
        """
        song = self._pairs.get(item)
        if song is None or sidecar_path(item).is_file():
            return item
        return song

    def mark_broken(self, song: Path) -> None:
        """Set ``song`` (or clip) aside until the file changes."""
        self._broken[song] = _signature(song)
        self.refresh()

    def _still_broken(self, song: Path) -> bool:
        if song not in self._broken:
            return False
        if _signature(song) == self._broken[song]:
            return True
        del self._broken[song]
        return False


def library_from(config: Config, *, seed: int | None = None) -> SongLibrary:
    """The library that ``config`` describes; the intro and fallback sounds are not songs."""
    clips = config.clips
    return SongLibrary(
        config.songs.folders,
        config.songs.extensions,
        exclude=config.effect_sounds,
        seed=seed,
        no_repeat=config.songs.no_repeat,
        clip_extensions=clips.extensions if clips.enabled else (),
        clip_chance=clips.chance,
    )


def _signature(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)
