"""A part that starts in the middle of a video: the reader seeks to the keyframe at or
before its first frame and decodes forward, giving exactly the frames of a read from the
start; where the way there does not decode, it reads from the start instead."""

from __future__ import annotations

import logging

import pytest

np = pytest.importorskip("numpy")
av = pytest.importorskip("av")

from conftest import corrupt  # noqa: E402

from party_button.render import video as video_module  # noqa: E402
from party_button.render.video import FrameReader, probe  # noqa: E402
from party_button.testing.render import make_video  # noqa: E402

RANGES = [(20, 40), (40, 60), (49, 51), (59, None)]
FROM_THE_START = "decoding from the start"


@pytest.fixture(scope="module")
def far_keyframes(tmp_path_factory):
    """60 frames at 10 fps with a keyframe every 25 frames (B-frames between)."""
    video = make_video(tmp_path_factory.mktemp("seek") / "gop.mp4", frames=60, keyframe_every=25)
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        keyframes = sorted(
            round(packet.pts * stream.time_base * video.fps)
            for packet in container.demux(stream)
            if packet.size and packet.is_keyframe
        )
    assert keyframes == [0, 25, 50]
    return video.path


def read(path, start=0, stop=None):
    info = probe(path)
    return list(FrameReader(info, (info.width, info.height), start, stop))


def assert_same_frames(part, whole):
    assert [(f.index, f.pts) for f in part] == [(f.index, f.pts) for f in whole]
    for ours, theirs in zip(part, whole, strict=True):
        assert np.array_equal(ours.image, theirs.image), f"frame {ours.index} differs"


def test_a_part_seeks_to_the_keyframe_before_it_and_decodes_forward(
    far_keyframes, caplog, monkeypatch
):
    whole = read(far_keyframes)
    caplog.set_level(logging.DEBUG, logger="party_button.render.video")
    for start, stop in RANGES:
        assert_same_frames(read(far_keyframes, start, stop), whole[start:stop])
    assert FROM_THE_START not in caplog.text

    decoded = []

    def counted(container, stream):
        for frame in decode(container, stream):
            decoded.append(frame)
            yield frame

    decode = video_module._decode
    monkeypatch.setattr(video_module, "_decode", counted)
    assert_same_frames(read(far_keyframes, 49, 51), whole[49:51])
    assert len(decoded) < 51 - 20, "decoding began at the keyframe of frame 25, not at 0"


def test_a_part_whose_way_from_the_keyframe_does_not_decode_reads_from_the_start(
    far_keyframes, tmp_path, caplog
):
    broken = tmp_path / "broken.mp4"
    corrupt(far_keyframes, broken, (30,))
    caplog.set_level(logging.DEBUG, logger="party_button.render.video")
    whole = read(broken)
    assert len(whole) == 59
    assert_same_frames(read(broken, 40, 50), whole[40:50])
    assert FROM_THE_START in caplog.text
