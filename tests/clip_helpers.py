"""Short video clips made with PyAV, for the tests that play clips with the real mpv."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 44100
AUDIO_FRAME = 1024  # samples per AAC frame


def write_clip(
    path: Path,
    seconds: float,
    frequency: float = 440.0,
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
) -> Path:
    """Write an H.264 + AAC MP4: a picture changing colour every frame over a sine tone."""
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
