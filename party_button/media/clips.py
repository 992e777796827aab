"""Clips on the screen: the mpv program, driven over its JSON IPC socket.

One mpv process waits idle (``--idle=yes``) between clips, so a press only asks it to load
the clip. A reader thread follows mpv's events (the playback position, the end of a clip, a
clip that cannot be played, mpv going away) and keeps what it saw; the daemon's loop reads
that state and never waits on mpv. A screen that cannot be opened (no display, no DRM
device) is said once in the log, and clips then play as sound only.

mpv hands its queued events out before its log messages, so a busy machine can hear that a
clip ended in an error before hearing why. A clip that fails before it plays is therefore
judged only once mpv has answered a request sent after the failure: by then every message
logged before it has arrived.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from party_button.errors import SongError, VideoError

if TYPE_CHECKING:
    from party_button.config.schema import Config

log = logging.getLogger(__name__)

# Seconds a starting mpv may take to open its IPC socket (a cold start on a Pi is slow).
START_TIMEOUT = 10.0
# Seconds to wait for mpv's answer: at start, and mid-party (where the loop waits on it).
REPLY_TIMEOUT = 2.0
PARTY_REPLY_TIMEOUT = 0.2
# Seconds mpv gets to quit before it is terminated, and then killed.
QUIT_TIMEOUT = 2.0
# The position is extrapolated from mpv's last report by at most this many seconds.
MAX_EXTRAPOLATION = 0.5
# Options the player always sets: idle between clips, none of mpv's own config files or
# key bindings, nothing drawn when idle, only errors in its output (kept in a file).
FIXED_OPTIONS = (
    "--idle=yes",
    "--no-config",
    "--keep-open=no",
    "--force-window=no",
    "--no-input-terminal",
    "--input-default-bindings=no",
    "--input-vo-keyboard=no",
    "--msg-level=all=error",
)
FADE_FILTER = "@party-button-fade"
OUTPUT_LINES = 3


@dataclass(frozen=True)
class ClipFailure:
    """A clip that did not play: why, and whether the file is to blame (not mpv)."""

    clip: Path
    reason: str
    clip_at_fault: bool


def mpv_volume(volume: float) -> float:
    """mpv's volume (0-100, a cubic scale) that plays as loud as ``volume`` does in pygame."""
    return 100.0 * volume ** (1 / 3)


def clip_player_from(config: Config) -> ClipPlayer | None:
    """The clip player that ``config`` asks for, or ``None`` when clips are off."""
    clips = config.clips
    if not clips.enabled:
        return None
    return ClipPlayer(clips.mpv, clips.mpv_options, volume=config.audio.volume)


class ClipPlayer:
    """Plays clips with one long-lived mpv process; a context manager, ``close()`` twice is safe.

    The interface follows :class:`~party_button.media.audio.Player` where it can: :meth:`prepare`,
    :meth:`start`, :meth:`position`, :meth:`is_playing`, :meth:`fade_out`, :meth:`stop`.
    A clip that mpv refuses shows up in :meth:`take_failure`; an mpv that dies ends the clip
    (:meth:`is_playing` turns false), and the next :meth:`prepare` starts a new one.

    >>> with ClipPlayer("mpv", ["--vo=null", "--ao=null"]) as player:  # doctest: +SKIP
    ...     player.prepare(Path("songs/foo.outlined.mp4"))
    ...     player.start()
    """

    def __init__(self, program: str = "mpv", options: Sequence[str] = (), *, volume: float = 0.8):
        self.program = program
        self.options = tuple(options)
        self.volume = volume
        self._lock = threading.RLock()  # the state below, and every write to the socket
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._folder: Path | None = None
        self._closing = False
        self._requests = itertools.count(1)
        self._replies: dict[int, list[Any]] = {}
        self._version = "mpv"
        self._prepared: Path | None = None
        self._clip: Path | None = None
        self._load_request: int | None = None
        self._verdict_request: int | None = None
        self._file_error = ""
        self._entry: int | None = None
        self._entry_started = False
        self._state = "idle"  # idle, loading, playing, ended
        self._video_failed = False
        self._sound_only = False
        self._fading = False
        self._errors: collections.deque[str] = collections.deque(maxlen=3)
        self._failure: tuple[Path, str, bool] | None = None
        self._anchor = (0.0, time.monotonic())

    # -- the mpv process ---------------------------------------------------------------------

    def check(self) -> str:
        """Find the mpv program; returns its path. Raises :class:`VideoError`."""
        found = shutil.which(self.program)
        if found is None:
            raise VideoError(
                f"mpv not found: {self.program!r} is not an installed program "
                "(apt-get install mpv, or set clips.mpv)"
            )
        return found

    @property
    def is_open(self) -> bool:
        """Whether mpv is running and connected."""
        return (
            self._process is not None
            and self._process.poll() is None
            and self._reader is not None
            and self._reader.is_alive()
        )

    def open(self) -> str:
        """Start mpv idle and connect to it; returns its version. Raises :class:`VideoError`."""
        if self.is_open:
            return self.describe()
        self._shut_down()
        program = self.check()
        self._folder = Path(tempfile.mkdtemp(prefix="party-button-mpv-"))
        address = self._folder / "ipc"
        output = (self._folder / "output").open("wb")
        args = [
            program,
            *FIXED_OPTIONS,
            f"--input-ipc-server={address}",
            f"--volume={mpv_volume(self.volume):.1f}",
            *self.options,
        ]
        try:
            # mpv prints its messages on stdout or stderr depending on where they go.
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            self._shut_down()
            raise VideoError(f"cannot start {program}: {exc.strerror or exc}") from None
        finally:
            output.close()
        try:
            self._socket = self._connect(address)
        except VideoError:
            self._shut_down()
            raise
        self._closing = False
        self._sound_only = False
        self._reader = threading.Thread(target=self._read, name="mpv-events", daemon=True)
        self._reader.start()
        self._send(["observe_property", 1, "time-pos"])
        self._send(["request_log_messages", "error"])
        self._version = str(self._request(["get_property", "mpv-version"]) or "mpv")
        log.info("started %s", self.describe())
        return self.describe()

    def describe(self) -> str:
        """The running mpv's version and options."""
        options = " ".join(self.options) or "mpv's default output"
        return f"{self._version} ({options})"

    def _connect(self, address: Path) -> socket.socket:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self._process.poll()
            if code is not None:
                raise VideoError(f"mpv exited at start with code {code}: {self._output_tail()}")
            if address.exists():
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    connection.connect(str(address))
                    return connection
                except OSError:
                    connection.close()
            if time.monotonic() > deadline:
                raise VideoError(f"mpv did not open its IPC socket within {START_TIMEOUT:g}s")
            time.sleep(0.01)

    def _output_tail(self) -> str:
        if self._folder is None:
            return "no message"
        try:
            text = (self._folder / "output").read_text(errors="replace")
        except OSError:
            return "no message"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return " / ".join(lines[-OUTPUT_LINES:]) or "no message"

    def close(self) -> None:
        """Quit mpv (terminating it if it hangs) and release the socket; safe to call twice."""
        self._prepared = None
        self._shut_down()

    def _shut_down(self) -> None:
        self._closing = True
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._send(["quit"])
            try:
                process.wait(QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(QUIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
            self._socket = None
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(QUIT_TIMEOUT)
        self._reader = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        with self._lock:
            self._state = "idle"

    def __enter__(self) -> ClipPlayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- talking to mpv ----------------------------------------------------------------------

    def _send(self, command: list[Any], request_id: int | None = None) -> int:
        """Send ``command`` without waiting; returns its request id. A gone mpv is ignored."""
        rid = next(self._requests) if request_id is None else request_id
        data = json.dumps({"command": command, "request_id": rid}).encode() + b"\n"
        with self._lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.sendall(data)
        return rid

    def _request(self, command: list[Any], timeout: float = REPLY_TIMEOUT) -> Any:
        """Send ``command`` and wait for mpv's answer; ``None`` on an error or no answer."""
        rid = next(self._requests)
        waiter: list[Any] = [threading.Event(), None]
        with self._lock:
            self._replies[rid] = waiter
        self._send(command, rid)
        waiter[0].wait(timeout)
        with self._lock:
            self._replies.pop(rid, None)
        return waiter[1]

    def _read(self) -> None:
        assert self._socket is not None
        stream = self._socket.makefile("rb")
        try:
            for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    with self._lock:
                        self._handle(message)
        except OSError:
            pass
        finally:
            stream.close()
            self._ended_connection()

    def _handle(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event is None:
            self._reply(message)
        elif event == "property-change" and message.get("name") == "time-pos":
            if self._state == "playing" and isinstance(message.get("data"), int | float):
                self._anchor = (float(message["data"]), time.monotonic())
        elif event == "log-message":
            text = str(message.get("text", "")).strip()
            log.debug("mpv [%s] %s", message.get("prefix"), text)
            self._errors.append(text)
            self._video_failed |= str(message.get("prefix", "")).startswith("vo")
        elif event == "start-file":
            self._entry_started = message.get("playlist_entry_id") == self._entry
        elif event == "playback-restart" and self._entry_started and self._state == "loading":
            self._state = "playing"
            self._anchor = (0.0, time.monotonic())
        elif event == "end-file" and self._is_current(message):
            self._file_ended(str(message.get("reason")), str(message.get("file_error", "")))

    def _is_current(self, message: dict[str, Any]) -> bool:
        """Whether an event is about the clip started last (not one it replaced or done with)."""
        return self._entry is not None and message.get("playlist_entry_id") == self._entry

    def _reply(self, message: dict[str, Any]) -> None:
        rid = message.get("request_id")
        ok = message.get("error") == "success"
        waiter = self._replies.get(rid) if isinstance(rid, int) else None
        if waiter is not None:
            waiter[1] = message.get("data") if ok else None
            waiter[0].set()
        elif rid == self._verdict_request:
            self._verdict_request = None
            self._judge_failed_load()
        elif rid == self._load_request:
            data = message.get("data")
            if ok and isinstance(data, dict):
                self._entry = data.get("playlist_entry_id")
            elif self._clip is not None:
                self._fail(f"mpv refused to load it: {message.get('error')}", clip_at_fault=True)
        elif not ok:
            log.debug("mpv answered request %s with %s", rid, message.get("error"))

    def _file_ended(self, reason: str, file_error: str) -> None:
        clip = self._clip
        assert clip is not None
        if reason != "error":
            self._state = "ended"
            log.debug("clip %s ended (%s)", clip.name, reason)
        elif self._state == "playing":
            self._state = "ended"
            log.warning("clip %s stopped early: mpv: %s", clip.name, self._reason(file_error))
        else:
            # Why it failed may still be on its way (see the module's docstring): ask mpv
            # something and judge when it answers.
            self._file_error = file_error
            self._verdict_request = self._send(["get_property", "mpv-version"])

    def _judge_failed_load(self) -> None:
        """The clip failed before playing: the screen's fault (play it as sound only) or its own."""
        clip = self._clip
        if clip is None or self._state != "loading":
            return  # stopped, or mpv went away, meanwhile
        if self._video_failed and not self._sound_only:
            log.warning(
                "mpv cannot show video (%s): clips play as sound only",
                self._reason("no video output"),
            )
            self._sound_only = True
            self._send(["set_property", "vid", "no"])
            self._load(clip)
        else:
            self._fail(self._file_error, clip_at_fault=True)

    def _reason(self, fallback: str) -> str:
        return " / ".join(self._errors) or fallback

    def _fail(self, reason: str, *, clip_at_fault: bool) -> None:
        assert self._clip is not None
        self._failure = (self._clip, reason, clip_at_fault)
        self._state = "ended"
        self._entry = None

    def _ended_connection(self) -> None:
        process = self._process
        code = None
        if process is not None and not self._closing:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(1.0)
        with self._lock:
            during = self._clip if self._state in ("loading", "playing") else None
            if not self._closing:
                # Logged before the state changes, so whoever sees the clip end sees why.
                how = f"exit code {code}" if code is not None else "connection lost"
                if during is not None:
                    log.error("mpv stopped during clip %s (%s): the party ends", during.name, how)
                else:
                    log.warning("mpv stopped (%s); a new one starts for the next clip", how)
            self._state = "ended" if during else "idle"

    # -- playing clips -----------------------------------------------------------------------

    def prepare(self, clip: Path) -> None:
        """Make ready to play ``clip``: the file is there and mpv runs (started if need be).

        Raises :class:`SongError` for a missing file, :class:`VideoError` if mpv cannot run.
        """
        if not clip.is_file():
            raise SongError(f"{clip}: file not found")
        if not self.is_open:
            self.open()
        self._prepared = clip

    @property
    def prepared(self) -> Path | None:
        """The clip that :meth:`start` will play."""
        return self._prepared

    def start(self) -> None:
        """Ask mpv to play the prepared clip from its start; returns at once."""
        clip, self._prepared = self._prepared, None
        if clip is None:
            raise SongError("no clip is prepared")
        with self._lock:
            self._clip = clip
            self._failure = None
            self._errors.clear()
            self._state = "loading"
            self._anchor = (0.0, time.monotonic())
            if not self.is_open:
                self._fail("mpv is not running", clip_at_fault=False)
                return
            self._load(clip)

    def _load(self, clip: Path) -> None:
        self._entry = None
        self._verdict_request = None
        self._entry_started = False
        self._video_failed = False
        self._errors.clear()
        self._load_request = self._send(["loadfile", str(clip.resolve()), "replace"])

    def take_failure(self) -> ClipFailure | None:
        """The clip that could not be played since the last call, with mpv's reason, once."""
        with self._lock:
            if self._failure is None:
                return None
            clip, reason, at_fault = self._failure
            self._failure = None
            return ClipFailure(clip, self._reason(reason or "cannot be played"), at_fault)

    def is_playing(self) -> bool:
        """Whether a clip is loading or playing (a fade-out counts as playing)."""
        return self._state in ("loading", "playing")

    def position(self) -> float:
        """Seconds of the clip played, extrapolated between mpv's reports."""
        reported, at = self._anchor
        if self._state != "playing":
            return reported
        return reported + min(time.monotonic() - at, MAX_EXTRAPOLATION)

    def fade_out(self, seconds: float) -> None:
        """Fade the clip's sound out within ``seconds``; the picture stays until :meth:`stop`.

        The fade applies to sound not yet decoded (``audio-pts``); what already waits in the
        output buffer plays first, so the fade is shortened by that much.
        """
        if self._state != "playing":
            return
        position = self.position()
        pts = self._request(["get_property", "audio-pts"], PARTY_REPLY_TIMEOUT)
        if not isinstance(pts, int | float):
            return  # a clip without sound
        length = max(seconds - max(pts - position, 0.0), 0.05)
        fade = f"{FADE_FILTER}:lavfi=[afade=t=out:st={pts:.3f}:d={length:.3f}]"
        self._send(["af", "add", fade])
        self._fading = True

    def stop(self) -> None:
        """Stop the clip at once; mpv goes back to idle."""
        with self._lock:
            if self._state in ("loading", "playing"):
                self._send(["stop"])
            self._state = "idle"
            self._entry = None
            self._verdict_request = None
            self._anchor = (0.0, time.monotonic())
            if self._fading:
                self._send(["af", "remove", FADE_FILTER])
                self._fading = False
