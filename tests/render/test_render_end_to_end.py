"""The whole render, from a test video to the clip and its sidecar, with the shape finder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")

from conftest import SHAPES, run_module  # noqa: E402

from party_button.render.drawing import track_colour  # noqa: E402
from party_button.testing.render import make_video, read_video, shape_masks  # noqa: E402


def inner_edge(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask."""
    padded = np.pad(mask, 1)
    inside = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inside


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` (a square) of the mask."""
    grown = mask.copy()
    for _ in range(radius):
        padded = np.pad(grown, 1)
        grown = (
            padded[1:-1, 1:-1]
            | padded[:-2, 1:-1]
            | padded[2:, 1:-1]
            | padded[1:-1, :-2]
            | padded[1:-1, 2:]
        )
    return grown


def core_colour(track_id: int) -> np.ndarray:
    """The outline's colour for a track, as the painter mixes it."""
    return np.array(track_colour(track_id)) * 0.6 + 255 * 0.4


def track_of(record: dict, mask: np.ndarray) -> int | None:
    """The track id of the detection whose box centre lies in ``mask``'s box."""
    rows, cols = np.nonzero(mask)
    for detection in record["detections"]:
        left, top, right, bottom = detection["box"]
        x, y = (left + right) / 2, (top + bottom) / 2
        if cols.min() <= x <= cols.max() + 1 and rows.min() <= y <= rows.max() + 1:
            return detection["track"]
    return None


def apart(masks: dict[str, np.ndarray]) -> bool:
    """True when square and disc are at least 8 pixels apart."""
    return not (grow(masks["square"], 8) & masks["disc"]).any()


@pytest.fixture(scope="module")
def sidecar(rendered_shapes: Path) -> dict:
    return json.loads(rendered_shapes.with_suffix(".json").read_text())


def test_outlines_are_drawn_where_the_shapes_are(rendered_shapes, shapes_video, sidecar):
    source = read_video(shapes_video.path)
    clip = read_video(rendered_shapes)
    v = shapes_video
    checked = 0
    for index, (before, after) in enumerate(zip(source.frames, clip.frames, strict=True)):
        masks = shape_masks(index, v.frames, v.width, v.height)
        if not apart(masks):
            continue
        record = sidecar["frames"][index]
        for name in ("square", "disc"):
            own = core_colour(track_of(record, masks[name]))
            seen = after[inner_edge(masks[name])].astype(float).mean(axis=0)
            original = before[inner_edge(masks[name])].astype(float).mean(axis=0)
            assert np.abs(seen - own).max() < 45, (index, name, seen, own)
            assert np.abs(seen - own).sum() < np.abs(seen - original).sum() / 2
        # The ball is not a person, and the corners are far from every shape: untouched.
        untouched = inner_edge(masks["ball"]) | ~grow(masks["square"] | masks["disc"], 30)
        difference = np.abs(after[untouched].astype(int) - before[untouched].astype(int))
        assert difference.mean() < 3, index
        checked += 1
    assert checked >= 40


def test_each_shape_keeps_one_colour_through_the_crossing(rendered_shapes, shapes_video, sidecar):
    v = shapes_video
    tracks: dict[str, set[int]] = {"square": set(), "disc": set()}
    crossing = []
    for index, record in enumerate(sidecar["frames"]):
        masks = shape_masks(index, v.frames, v.width, v.height)
        if not apart(masks):
            crossing.append(index)
            continue
        for name in tracks:
            tracks[name].add(track_of(record, masks[name]))
    assert crossing, "the test video must make the shapes cross"
    assert min(crossing) > 5 and max(crossing) < v.frames - 5
    assert len(tracks["square"]) == 1 and len(tracks["disc"]) == 1, tracks
    assert tracks["square"] != tracks["disc"]
    assert None not in tracks["square"] | tracks["disc"]
    during = {d["track"] for i in crossing for d in sidecar["frames"][i]["detections"]}
    assert during <= tracks["square"] | tracks["disc"]


def test_the_clip_keeps_frames_rate_timestamps_and_audio(rendered_shapes, shapes_video):
    source = read_video(shapes_video.path)
    clip = read_video(rendered_shapes)
    assert len(clip.frames) == shapes_video.frames == len(source.frames)
    assert clip.rate == source.rate == shapes_video.fps
    assert clip.times == pytest.approx(source.times, abs=1e-6)
    assert clip.frames[0].shape == (shapes_video.height, shapes_video.width, 3)
    assert clip.audio_codec == source.audio_codec == "aac"
    assert clip.audio_seconds == pytest.approx(source.audio_seconds, abs=0.03)


def test_the_sidecar_records_the_run_and_every_frame(rendered_shapes, shapes_video, sidecar):
    assert sidecar["clip"] == "shapes.outlined.mp4"
    assert sidecar["model"] == {"name": "shapes", "classes": ["person"]}
    assert sidecar["settings"]["classes"] == ["person"]
    assert sidecar["settings"]["score_threshold"] == 0.7
    assert sidecar["run"]["seconds"] > 0
    assert sidecar["video"]["frames"] == shapes_video.frames
    assert [f["index"] for f in sidecar["frames"]] == list(range(shapes_video.frames))
    assert [f["time"] for f in sidecar["frames"]] == pytest.approx(
        [i / shapes_video.fps for i in range(shapes_video.frames)]
    )
    first = sidecar["frames"][0]["detections"]
    assert [d["class"] for d in first] == ["person", "person"]
    assert {d["score"] for d in first} == {0.95, 0.85}
    masks = shape_masks(0, shapes_video.frames, shapes_video.width, shapes_video.height)
    rows, cols = np.nonzero(masks["square"])
    square = next(d for d in first if d["score"] == 0.95)
    assert square["box"] == pytest.approx(
        [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], abs=1.5
    )
    assert not (rendered_shapes.parent / ".shapes.outlined.mp4.render").exists()


def test_a_frame_range_with_other_classes(shapes_video, render_cli, tmp_path):
    out = tmp_path / "ball.mp4"
    result = render_cli(
        shapes_video.path,
        "-o",
        out,
        "--segmenter",
        SHAPES,
        "--start",
        "1.5s",
        "--end",
        "40",
        "--classes",
        "sports ball",
    )
    assert result.code == 0, result.err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert [f["index"] for f in sidecar["frames"]] == list(range(15, 40))
    labels = {d["class"] for f in sidecar["frames"] for d in f["detections"]}
    assert labels == {"sports ball"}
    clip = read_video(out)
    assert len(clip.frames) == 25
    assert clip.times[0] == 0.0 and clip.times[-1] == pytest.approx(2.4)
    assert clip.audio_seconds == pytest.approx(2.5, abs=0.05)


def test_the_score_threshold_and_the_first_frames(shapes_video, render_cli, tmp_path):
    out = tmp_path / "square.mp4"
    result = render_cli(
        shapes_video.path,
        "-o",
        out,
        "--segmenter",
        SHAPES,
        "--frames",
        "7",
        "--score-threshold",
        "0.9",
        "--no-audio",
        "--fill",
        "0.3",
        "--labels",
        "--glow",
        "0",
    )
    assert result.code == 0, result.err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert len(sidecar["frames"]) == 7
    assert {d["score"] for f in sidecar["frames"] for d in f["detections"]} == {0.95}
    clip = read_video(out)
    assert len(clip.frames) == 7 and clip.audio_codec is None
    assert sidecar["video"]["audio"] is False


def test_audio_that_mp4_cannot_carry_is_reencoded(tmp_path, render_cli):
    video = make_video(
        tmp_path / "pcm.mkv", frames=12, audio_codec="pcm_s16le", video_codec="mjpeg"
    )
    out = tmp_path / "pcm.mp4"
    result = render_cli(video.path, "-o", out, "--segmenter", SHAPES, "--height", "60")
    assert result.code == 0, result.err
    clip = read_video(out)
    assert clip.audio_codec == "aac"
    assert clip.audio_seconds == pytest.approx(1.2, abs=0.05)
    assert clip.frames[0].shape == (60, 80, 3)
    assert len(clip.frames) == 12


def test_python_m_writes_into_the_songs_library(shapes_video, tmp_path):
    done = run_module(
        shapes_video.path, "--segmenter", SHAPES, "--frames", "5", "--height", "64", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "wrote songs/shapes.outlined.mp4" in done.stdout
    assert sorted(p.name for p in (tmp_path / "songs").iterdir()) == [
        "shapes.outlined.json",
        "shapes.outlined.mp4",
    ]
    assert len(read_video(tmp_path / "songs" / "shapes.outlined.mp4").frames) == 5
