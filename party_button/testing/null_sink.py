"""A clocked audio output for tests and benchmarks: a private PulseAudio null sink, recorded.

:class:`NullSink` starts a PulseAudio server of its own (no sound card, no session, its own
runtime folder) with one null sink, which plays in real time on the system clock. What plays
on it reaches its monitor source; :class:`SinkRecording` records that monitor and dates every
frame with the server's own latency figures, so the recording says *when* a sound would have
come out of a speaker on the sink, and whether it had gaps (underruns).

Clients reach the server through ``PULSE_SERVER`` (see :attr:`NullSink.environment`): SDL with
``SDL_AUDIODRIVER=pulseaudio``, ``paplay``, ``parec``. The recorder talks to it through
libpulse-simple (the ``pulseaudio`` and ``libpulse0`` Debian packages).
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from array import array
from pathlib import Path

SINK_NAME = "party_button_sink"
RATE = 44100
CHANNELS = 2
FRAME_BYTES = 2 * CHANNELS  # signed 16-bit samples
# The recorder reads this many frames at a time (5.8 ms): the finest it can date a read.
READ_FRAMES = 256
START_TIMEOUT = 10.0
# A sample at most this far from zero is silence (the null sink plays exact zeros).
SILENCE = 16
# Silent frames in a row, inside a sound, that make a gap a listener hears (1.5 ms).
GAP_FRAMES = 64
# The server's first latency figures are rough (it hands over what it held back at once): a
# recording counts as dated once this many dates in a row agree within SETTLED_SPREAD seconds.
SETTLED_READS = 64
SETTLED_SPREAD = 0.01

_PA_STREAM_RECORD = 2
_PA_SAMPLE_S16LE = 3
_PA_DEFAULT = 0xFFFFFFFF  # (uint32_t) -1: the server chooses


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint32) for name in ("maxlength", "tlength", "prebuf", "minreq", "fragsize")
    ]


class SinkError(RuntimeError):
    """The PulseAudio server or its recorder could not be started."""


class NullSink:
    """A PulseAudio server with one null sink, in a folder of its own; a context manager.

    >>> with NullSink() as sink, sink.record() as recording:   # doctest: +SKIP
    ...     subprocess.run(["paplay", "song.wav"], env={**os.environ, **sink.environment})
    ...     recording.first_sound_after(0.0)
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="party-button-pulse-"))
        self.socket = self.folder / "native"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def environment(self) -> dict[str, str]:
        """What a client's environment needs to play on the sink."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SINK": SINK_NAME}

    def start(self) -> NullSink:
        """Start the server; returns once it accepts clients. Raises :class:`SinkError`."""
        program = shutil.which("pulseaudio")
        if program is None:
            raise SinkError("pulseaudio is not installed (apt-get install pulseaudio)")
        runtime = self.folder / "runtime"
        runtime.mkdir(mode=0o700)
        env = {
            **os.environ,
            "HOME": str(self.folder),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(self.folder / "config"),
        }
        args = [
            program,
            "-n",  # no default script: only the modules below
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disallow-exit",
            "--log-target=stderr",
            "-L",
            f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L",
            f"module-null-sink sink_name={SINK_NAME} rate={RATE} channels={CHANNELS} format=s16le",
        ]
        log = (self.folder / "server.log").open("wb")
        try:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise SinkError(f"pulseaudio did not start: {self._log_tail()}")
            time.sleep(0.01)
        return self

    def _log_tail(self) -> str:
        try:
            lines = (self.folder / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no message"
        return " / ".join(line for line in lines[-3:] if line.strip()) or "no message"

    def record(self) -> SinkRecording:
        """A recording of everything the sink plays from now on (until it is closed)."""
        return SinkRecording(self.socket).start()

    def close(self) -> None:
        """Stop the server and remove its folder; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> NullSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SinkRecording:
    """The sink's monitor, recorded by a thread; every frame dated on ``time.monotonic()``.

    After each read the server says how long ago the next frame was played (its record
    latency); frame ``n`` was then played at ``now - latency``, and the first frame
    ``n / RATE`` before that. The sink's clock is the system's, so the median of the recent
    estimates dates the whole recording (within a few milliseconds: the server interpolates
    its figures between updates).
    """

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._samples = array("h")
        self._starts: list[float] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._record, name="sink-recorder", daemon=True)

    def start(self) -> SinkRecording:
        """Start recording; returns once the frames are dated. Raises :class:`SinkError`."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._settled():
            if self._error is not None or time.monotonic() > deadline:
                self.close()
                raise SinkError(f"cannot record the null sink: {self._error or 'no answer'}")
            time.sleep(0.05)
        return self

    def _settled(self) -> bool:
        with self._lock:
            recent = self._starts[-SETTLED_READS:]
        return len(recent) == SETTLED_READS and max(recent) - min(recent) < SETTLED_SPREAD

    def _record(self) -> None:
        try:
            simple = ctypes.CDLL("libpulse-simple.so.0")
            pulse = ctypes.CDLL("libpulse.so.0")
        except OSError as exc:
            self._error = str(exc)
            return
        simple.pa_simple_new.restype = ctypes.c_void_p
        simple.pa_simple_get_latency.restype = ctypes.c_uint64
        simple.pa_simple_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        simple.pa_simple_read.argtypes += [ctypes.POINTER(ctypes.c_int)]
        simple.pa_simple_get_latency.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        simple.pa_simple_free.argtypes = [ctypes.c_void_p]
        pulse.pa_strerror.restype = ctypes.c_char_p
        spec = _SampleSpec(_PA_SAMPLE_S16LE, RATE, CHANNELS)
        attributes = _BufferAttr(_PA_DEFAULT, _PA_DEFAULT, _PA_DEFAULT, _PA_DEFAULT)
        attributes.fragsize = READ_FRAMES * FRAME_BYTES
        error = ctypes.c_int(0)
        stream = simple.pa_simple_new(
            f"unix:{self.socket}".encode(),
            b"party-button-recorder",
            _PA_STREAM_RECORD,
            f"{SINK_NAME}.monitor".encode(),
            b"monitor",
            ctypes.byref(spec),
            None,
            ctypes.byref(attributes),
            ctypes.byref(error),
        )
        if not stream:
            self._error = pulse.pa_strerror(error.value).decode()
            return
        chunk = ctypes.create_string_buffer(READ_FRAMES * FRAME_BYTES)
        frames = 0
        try:
            while not self._stopping.is_set():
                if simple.pa_simple_read(stream, chunk, len(chunk), ctypes.byref(error)) < 0:
                    self._error = pulse.pa_strerror(error.value).decode()
                    return
                latency = simple.pa_simple_get_latency(stream, ctypes.byref(error)) / 1e6
                now = time.monotonic()
                frames += READ_FRAMES
                with self._lock:
                    self._samples.frombytes(chunk.raw)
                    self._starts.append(now - latency - frames / RATE)
        finally:
            simple.pa_simple_free(stream)

    def _first_frame_at(self) -> float:
        with self._lock:
            return statistics.median(self._starts[-SETTLED_READS:])

    def first_sound_after(self, when: float) -> float | None:
        """When the sink first played a sound at or after ``when`` (monotonic), or ``None``."""
        start = self._first_frame_at()
        first = max(0, math.ceil((when - start) * RATE) * CHANNELS)
        with self._lock:
            samples = self._samples[first:]
        for index, value in enumerate(samples):
            if abs(value) > SILENCE:
                return start + (first + index) // CHANNELS / RATE
        return None

    def wait_for_sound(self, since: float, timeout: float = 5.0) -> float:
        """When the sink first played a sound after ``since``, once it has; raises
        :class:`SinkError` if it has not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (heard := self.first_sound_after(since)) is None:
            if time.monotonic() > deadline:
                raise SinkError(f"no sound reached the sink within {timeout:g}s")
            time.sleep(0.002)
        return heard

    def sound_between(self, begin: float, end: float) -> array:
        """The frames (interleaved stereo samples) the sink played from ``begin`` to ``end``."""
        start = self._first_frame_at()
        first, last = (max(0, int((t - start) * RATE)) * CHANNELS for t in (begin, end))
        with self._lock:
            return self._samples[first:last]

    def gaps_between(self, begin: float, end: float) -> int:
        """How many times the sound dropped to silence for :data:`GAP_FRAMES` or longer."""
        gaps, run = 0, 0
        samples = self.sound_between(begin, end)
        for index in range(0, len(samples) - 1, CHANNELS):
            if abs(samples[index]) <= SILENCE and abs(samples[index + 1]) <= SILENCE:
                run += 1
                if run == GAP_FRAMES:
                    gaps += 1
            else:
                run = 0
        return gaps

    def close(self) -> None:
        """Stop recording; safe to call twice."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT)

    def __enter__(self) -> SinkRecording:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
