"""Is an uploaded file a song the daemon can play? Decided by decoding it, never by its name.

:func:`check_song` runs ``python -I -m party_button.web.song_check FILE KIND`` in a child
process (isolated: nothing is imported from the current folder or ``PYTHONPATH``),
so that a hostile file that makes a decoder crash, hang or eat memory takes down the child
only, within :data:`CHECK_SECONDS` and :data:`CHECK_MEMORY`. The child uses the daemon's own
checks and decoder:

1. :func:`~party_button.song_file.open_song`: a non-empty regular file;
2. :func:`~party_button.song_length.song_length`: its header does not say it holds no sound;
3. ``pygame.mixer.music.load`` with the extension as the decoder's hint, as the daemon
   prepares a song (an Ogg file named ``.mp3`` fails here, as it would on the party);
4. the whole file decoded (``pygame.mixer.Sound`` on SDL's dummy driver): it must hold
   sound, and no less than its header says (the daemon's cut-short rule).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

CHECK_SECONDS = 120.0
"""A file whose check takes longer is refused."""
CHECK_MEMORY = 1024**3
"""Address space of the checking process (one runs at a time): the decoded sound of about
three quarters of an hour."""


class NotASong(Exception):
    """Why a file is not a song the daemon can play."""


async def check_song(path: Path, kind: str) -> None:
    """Raise :class:`NotASong` unless ``path`` decodes as a ``kind`` (``ogg``, ``mp3``, ...)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-m",
        __name__,
        str(path),
        kind,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_limit_memory,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), CHECK_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise NotASong(f"decoding took longer than {CHECK_SECONDS:g} s") from None
    try:
        verdict = json.loads(output.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        verdict = {"ok": False, "error": f"the decoder failed (exit status {process.returncode})"}
    if not verdict.get("ok"):
        raise NotASong(str(verdict.get("error")))


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHECK_MEMORY, CHECK_MEMORY))


def _verdict(path: Path, kind: str) -> str | None:
    """What keeps ``path`` from playing as a ``kind``, or None; runs in the child."""
    from party_button.daemon.conductor import CUT_SHORT_SECONDS
    from party_button.errors import SongError
    from party_button.media.song_length import song_length
    from party_button.song_file import descriptor_path, open_song

    try:
        descriptor = open_song(path)
    except SongError as exc:
        return str(exc).split(": ", 1)[-1]
    try:
        expected = song_length(descriptor, os.fstat(descriptor).st_size)
        if expected == 0:
            return "its header says it holds no sound"
        os.environ["SDL_AUDIODRIVER"] = "dummy"  # decode only: never a real sound device
        import pygame

        pygame.mixer.init()
        source = str(descriptor_path(descriptor))
        try:
            pygame.mixer.music.load(source, kind)
            pygame.mixer.music.unload()
            decoded = pygame.mixer.Sound(source).get_length()
        except pygame.error as exc:
            return f"not {kind} audio: {exc}"
        except MemoryError:
            return "too long to check (the decoded sound does not fit in memory)"
    finally:
        os.close(descriptor)
    if decoded <= 0:
        return "it decodes to no sound"
    if expected is not None and decoded < expected - max(CUT_SHORT_SECONDS, 0.1 * expected):
        return f"only {decoded:.1f} s of its {expected:.1f} s can be decoded"
    return None


def main() -> int:
    """``python -m party_button.web.song_check FILE KIND``: one JSON line, the verdict."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    path, kind = Path(sys.argv[1]), sys.argv[2]
    try:
        problem = _verdict(path, kind)
    except MemoryError:
        problem = "too long to check (the decoded sound does not fit in memory)"
    print(json.dumps({"ok": problem is None, "error": problem}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
