"""Videos whose display matrix turns or mirrors the stored pictures are rendered upright."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
av = pytest.importorskip("av")
pytest.importorskip("torchvision")

from conftest import SHAPES  # noqa: E402

from party_button.render.video import FrameReader, Orientation, probe  # noqa: E402
from party_button.testing.render import make_video, read_video, shape_masks  # noqa: E402

WHITE, RED = (255, 255, 255), (255, 0, 0)


def write_marked(path: Path, degrees: int, hflip: bool) -> Path:
    """A 128x64 video: white top-left corner, red top-right, with the given display matrix."""
    image = np.zeros((64, 128, 3), dtype=np.uint8)
    image[:16, :16] = WHITE
    image[:16, -16:] = RED
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv444p"
        stream.set_display_rotation(degrees, hflip=hflip)
        for _ in range(2):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def corners(image: np.ndarray) -> str:
    """The colours in the corners, clockwise from top left: W(hite), R(ed) or . (black)."""
    names = []
    for row, col in ((2, 2), (2, -3), (-3, -3), (-3, 2)):
        red, green, _ = image[row, col]
        names.append("W" if green > 128 else "R" if red > 128 else ".")
    return "".join(names)


# Where ffmpeg's own player-side turn (its autorotate) puts the two marks.
@pytest.mark.parametrize(
    ("degrees", "hflip", "size", "expected"),
    [
        (0, False, (128, 64), "WR.."),
        (0, True, (128, 64), "RW.."),
        (90, False, (64, 128), "R..W"),
        (90, True, (64, 128), ".RW."),
        (180, False, (128, 64), "..WR"),
        (180, True, (128, 64), "..RW"),
        (270, False, (64, 128), ".WR."),
        (270, True, (64, 128), "W..R"),
    ],
)
def test_frames_come_out_as_players_show_them(tmp_path, degrees, hflip, size, expected):
    info = probe(write_marked(tmp_path / "marked.mp4", degrees, hflip))
    assert (info.width, info.height) == size
    half = info.output_size(info.height // 2)  # scaled down, then turned
    frames = list(FrameReader(info, half))
    assert frames[0].image.shape == (size[1] // 2, size[0] // 2, 3)
    assert frames[0].image.flags.c_contiguous
    assert [corners(frame.image) for frame in frames] == [expected] * 2


def test_a_turn_that_is_no_quarter_turn_is_left_alone_with_a_warning(caplog):
    half = round(0.5**0.5 * 65536)
    matrix = [half, half, 0, -half, half, 0, 0, 0, 1 << 30]  # an eighth of a turn
    with caplog.at_level(logging.WARNING):
        assert Orientation.from_matrix(matrix, Path("odd.mp4")) == Orientation()
    assert "odd.mp4: the display matrix turns the picture by no quarter turn" in caplog.text


def test_a_sideways_phone_video_renders_upright(tmp_path, render_cli):
    video = make_video(tmp_path / "phone.mp4", frames=8, sideways=True, audio=False)
    with av.open(str(video.path)) as container:
        assert container.streams.video[0].width == video.height  # stored sideways
    out = tmp_path / "phone.outlined.mp4"
    result = render_cli(video.path, "-o", out, "--segmenter", SHAPES)
    assert result.code == 0, result.err
    clip = read_video(out)
    assert clip.frames[0].shape == (video.height, video.width, 3)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["source"]["width"] == video.width
    square = max(sidecar["frames"][0]["detections"], key=lambda d: d["score"])
    rows, cols = np.nonzero(shape_masks(0, video.frames, video.width, video.height)["square"])
    assert square["box"] == pytest.approx(
        [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], abs=1.5
    )
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        kinds = {data.type for data in frame.side_data}
    assert av.sidedata.sidedata.Type.DISPLAYMATRIX not in kinds  # upright: nothing to turn
