"""Helpers for tests and benchmarks, as gpiozero ships ``gpiozero.testing``.

A real daemon on mock pins in a thread (:func:`running_daemon`), a mock pin factory whose
relay pins keep their last level (:class:`RelayMockFactory`), :func:`wait_for` a condition
instead of sleeping, a small config on mock pins (:data:`MOCK_CONFIG`), and real media to
feed it: tones (:func:`write_tone`, :func:`tiny_library`), songs of known tempo
(:func:`write_beat_song`) and clips (:func:`write_clip`).
The media makers need the ``dev`` extra (numpy, soundfile, PyAV), imported when called.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from party_button.config.schema import Config
from party_button.daemon.daemon import Daemon
from party_button.daemon.status import Snapshot
from party_button.media.audio import Player

SAMPLE_RATE = 44100
AUDIO_FRAME = 1024  # samples per AAC frame
RELAY_PINS = (5, 6)
# A small config on mock pins: a button, a status LED, an active-low and an active-high
# relay, songs in ``songs/`` beside the config file.
MOCK_CONFIG: dict = {
    "gpio": {"pin_factory": "mock"},
    "button": {"pin": "GPIO17", "bounce_time": 0.02, "hold_time": 1.0},
    "status_led": {"pin": "GPIO12"},
    "relays": [
        {"name": "lights", "pin": "GPIO5"},
        {"name": "beacon", "pin": "GPIO6", "active_high": True},
    ],
    "songs": {"folders": ["songs"]},
    "audio": {"fade_out": 0.2, "buffer_size": 512},
    "party": {"cooldown": 0.3},
}
# The pins of MOCK_CONFIG's relays and status LED: lights is active-low, beacon active-high.
LIGHTS, BEACON, LED = 5, 6, 12
# What mpv says of a file that is no video, in its versions' words.
MPV_UNRECOGNISED = ("Failed to recognize file format.", "unrecognized file format")


def relays_on(factory: MockFactory) -> tuple[bool, bool]:
    """Whether MOCK_CONFIG's two relays, lights and beacon, are on."""
    return (factory.pin(LIGHTS).state == 0, factory.pin(BEACON).state == 1)


class RelayMockFactory(MockFactory):
    """MockFactory whose relay pins are plain digital pins and all others PWM-capable.

    A released digital mock pin keeps its last level, so a test can see that every relay
    was driven off before the daemon let go of it.
    """

    def __init__(self, relay_pins: tuple[int, ...]) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.relay_pins = relay_pins

    def pin(self, name, pin_class=None, **kwargs):
        if pin_class is None and name in self.relay_pins:
            pin_class = MockPin
        return super().pin(name, pin_class, **kwargs)


def wait_for(condition: Callable[[], object], timeout: float = 5.0, every: float = 0.002) -> None:
    """Wait until ``condition()`` is true, asking every ``every`` seconds, or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(every)


class History:
    """Every snapshot that the daemon's loop publishes (at the end of each step), in order.

    The loop appends from its own thread. A test that waits here for a phase sees the state
    of the step that entered it, however late the test thread gets to look, where reading the
    live daemon could find the party already over (the test songs last well under a second).
    """

    def __init__(self) -> None:
        self.snapshots: list[Snapshot] = []

    def __call__(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)

    def mark(self) -> int:
        """A position in the history: :meth:`wait` after it sees only later snapshots."""
        return len(self.snapshots)

    def wait(
        self, condition: Callable[[Snapshot], bool], after: int = 0, timeout: float = 5.0
    ) -> Snapshot:
        """The first snapshot after position ``after`` that satisfies ``condition``."""
        deadline = time.monotonic() + timeout
        checked = after
        while True:
            published = len(self.snapshots)
            for snapshot in self.snapshots[checked:published]:
                if condition(snapshot):
                    return snapshot
            checked = published
            if time.monotonic() > deadline:
                raise AssertionError(f"no snapshot matched {condition} within {timeout}s")
            time.sleep(0.002)


def history(daemon: Daemon) -> History:
    """The history that :func:`running_daemon` records for ``daemon``."""
    assert isinstance(daemon.board.on_change, History)
    return daemon.board.on_change


@contextmanager
def running_daemon(
    config: Config,
    factory: MockFactory,
    player: Player | None = None,
    seed: int = 1,
    *,
    scanned: bool = True,
    **options: Any,
) -> Iterator[Daemon]:
    """A started daemon whose loop runs in a thread; stopped and joined on exit.

    With ``scanned`` it is entered once the library's first pass is over and the next pick
    loaded; ``options`` go to :class:`Daemon`. Its snapshots are kept in a :class:`History`.
    """
    daemon = Daemon(
        config, factory=factory, player=player, seed=seed, on_change=History(), **options
    )
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            daemon.run(install_signals=False)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=loop, name="daemon-under-test")
    thread.start()
    wait_for(lambda: (daemon.hardware is not None and daemon.running) or errors)
    if scanned and not errors:
        wait_for(lambda: (daemon.library.complete and not daemon.preparing) or errors, timeout=60)
    try:
        yield daemon
    finally:
        daemon.request_stop()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the daemon did not stop"
    if errors:
        raise errors[0]


def press(factory: MockFactory, pin: int = 17, seconds: float = 0.03) -> None:
    """Push a pull-up button wired to ground for ``seconds``."""
    factory.pin(pin).drive_low()
    time.sleep(seconds)
    factory.pin(pin).drive_high()


def write_tone(path: Path, seconds: float, frequency: float = 440.0) -> Path:
    """Write a sine tone as a real audio file (format from the suffix)."""
    import numpy as np
    import soundfile

    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (0.4 * np.sin(2 * np.pi * frequency * t)).astype("float32")
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.column_stack([samples, samples]), SAMPLE_RATE)
    return path


@functools.cache
def tone_bytes(seconds: float) -> bytes:
    """The bytes of an Ogg Vorbis tone ``seconds`` long, made once per length."""
    folder = Path(tempfile.mkdtemp(prefix="party-button-tone-"))
    try:
        return write_tone(folder / "tone.ogg", seconds).read_bytes()
    finally:
        shutil.rmtree(folder)


def tiny_song(path: Path, seconds: float = 0.3) -> Path:
    """A real Ogg Vorbis tone at ``path``, a copy of one made once per length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tone_bytes(seconds))
    return path


def tiny_library(folder: Path, count: int, per_folder: int = 100, seconds: float = 0.3) -> None:
    """``count`` tiny songs in sub-folders of ``per_folder`` songs each."""
    data = tone_bytes(seconds)
    for index in range(count):
        album = folder / f"album{index // per_folder:04d}"
        if index % per_folder == 0:
            album.mkdir(parents=True, exist_ok=True)
        (album / f"song{index:05d}.ogg").write_bytes(data)


def write_clip(
    path: Path,
    seconds: float,
    frequency: float = 440.0,
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
) -> Path:
    """Write an H.264 + AAC MP4: a picture changing colour every frame over a sine tone."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for index in range(round(seconds * fps)):
            picture = np.full((size[1], size[0], 3), (index * 25) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        total = round(seconds * SAMPLE_RATE)
        for start in range(0, total, AUDIO_FRAME):
            t = np.arange(start, min(start + AUDIO_FRAME, total)) / SAMPLE_RATE
            tone = (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path
