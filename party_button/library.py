"""The songs library: finding playable files and choosing the next one from a shuffle bag."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from party_button.config import Config

log = logging.getLogger(__name__)


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


class SongLibrary:
    """The songs folders, rescanned on every pick, with broken files set aside.

    A file that failed to play stays out of the bag until it changes on disk (a new
    size or modification time), so a corrupt song is reported once, not at every party.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        extensions: Sequence[str],
        *,
        exclude: Sequence[Path] = (),
        seed: int | None = None,
        no_repeat: bool = True,
    ) -> None:
        self.folders = tuple(folders)
        self.extensions = tuple(extensions)
        self.exclude = tuple(exclude)
        self._broken: dict[Path, tuple[float, int] | None] = {}
        self._bag = ShuffleBag(seed=seed, no_repeat=no_repeat)
        self.refresh()

    def __len__(self) -> int:
        return len(self._bag)

    def refresh(self) -> list[Path]:
        """Scan the folders again; returns the playable songs."""
        songs = [
            path
            for path in scan_library(self.folders, self.extensions, self.exclude)
            if not self._still_broken(path)
        ]
        self._bag.update(songs)
        return songs

    def next_song(self) -> Path | None:
        """The next song to play, noticing files added or removed since the last pick."""
        self.refresh()
        song = self._bag.pick()
        return Path(song) if song is not None else None

    def mark_broken(self, song: Path) -> None:
        """Set ``song`` aside until the file changes."""
        self._broken[song] = _signature(song)
        self._bag.update([item for item in self.refresh() if item != song])

    def _still_broken(self, song: Path) -> bool:
        if song not in self._broken:
            return False
        if _signature(song) == self._broken[song]:
            return True
        del self._broken[song]
        return False


def _signature(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


def library_from(config: Config, seed: int | None = None) -> SongLibrary:
    """The songs library for ``config``, without the intro and fallback sounds."""
    return SongLibrary(
        config.songs.folders,
        config.songs.extensions,
        exclude=config.effect_sounds,
        seed=seed,
        no_repeat=config.songs.no_repeat,
    )
