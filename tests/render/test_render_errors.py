"""Bad input and bad options: one clear line on stderr, exit code 1, no traceback."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("numpy")
av = pytest.importorskip("av")
torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from conftest import SHAPES, corrupt  # noqa: E402

from party_button.testing.render import make_video, read_video  # noqa: E402


def assert_fails(result, *fragments: str) -> None:
    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_missing_file(render_cli, tmp_path):
    assert_fails(render_cli(tmp_path / "gone.mp4", "--segmenter", SHAPES), "gone.mp4: no such file")


def test_a_folder(render_cli, tmp_path):
    assert_fails(render_cli(tmp_path, "--segmenter", SHAPES), "is a folder")


def test_a_file_that_is_not_a_video(render_cli, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    assert_fails(
        render_cli(text, "--segmenter", SHAPES), "notes.mp4: not a video file that ffmpeg can read"
    )


def test_a_file_without_a_video_stream(render_cli, tmp_path):
    sound = tmp_path / "tone.m4a"
    with av.open(str(sound), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.sample_rate = 48000
        frame.pts = 0
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert_fails(render_cli(sound, "--segmenter", SHAPES), "tone.m4a: has no video stream")


def test_corrupt_frames_are_reported_and_skipped(render_cli, shapes_video, tmp_path, caplog):
    broken = tmp_path / "broken.mp4"
    times = corrupt(shapes_video.path, broken, (25, 26))
    out = tmp_path / "broken.outlined.mp4"
    result = render_cli(broken, "-o", out, "--segmenter", SHAPES)
    assert result.code == 0, result.err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    reported = []
    for warning in warnings:
        assert "broken.mp4: a corrupt frame near " in warning and " s was skipped" in warning
        reported.append(float(warning.split(" near ")[1].split(" s ")[0]))
    # Threaded decoding reports a damaged packet a few frames late.
    for time, when in zip(times, sorted(reported), strict=True):
        assert when == pytest.approx(time, abs=0.5)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sorted(s["time"] for s in sidecar["skipped_frames"]) == pytest.approx(
        sorted(reported), abs=0.01
    )
    clip = read_video(out)
    assert len(clip.frames) == len(sidecar["frames"]) == shapes_video.frames - 2
    assert all(a < b for a, b in zip(clip.times, clip.times[1:], strict=False))


def test_an_output_folder_that_cannot_be_made(render_cli, shapes_video, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_fails(
        render_cli(shapes_video.path, "-o", blocker / "clip.mp4", "--segmenter", SHAPES),
        f"cannot create the folder {blocker}",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root from writing")
def test_an_output_folder_without_write_permission(render_cli, shapes_video, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_fails(
            render_cli(shapes_video.path, "-o", locked / "clip.mp4", "--segmenter", SHAPES),
            f"cannot write to {locked}",
        )
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-o", "clip.mkv"], "clip.mkv: the clip's name must end in .mp4"),
        (["--classes", "persn"], "'persn' is not a COCO class; did you mean 'person'?"),
        (["--start", "30", "--end", "20"], "--end (frame 20) must come after --start (frame 30)"),
        (["--start", "99"], "--start: frame 99 is past the end"),
        (["--start", "1:00"], "--start: frame 600 is past the end"),
        (["--fill", "2"], "--fill must be an opacity from 0 to 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--thickness", "0"], "--thickness must be at least 1"),
        (["--segmenter", "nowhere"], "expected MODULE:CALLABLE"),
        (["--segmenter", "no_such_module:X"], "cannot import no_such_module"),
        (
            ["--segmenter", "party_button.testing.render:NOTHING"],
            "party_button.testing.render has no callable NOTHING",
        ),
    ],
)
def test_bad_options(render_cli, shapes_video, tmp_path, options, message):
    options = [tmp_path / o if o.endswith(".mkv") else o for o in options]
    if "--segmenter" not in options:
        options += ["--segmenter", SHAPES]
    assert_fails(render_cli(shapes_video.path, *options), message)
    assert not (tmp_path / "songs" / "shapes.outlined.mp4").exists()


def test_half_precision_needs_cuda(render_cli, shapes_video):
    assert_fails(
        render_cli(shapes_video.path, "--device", "cpu", "--half"), "--half needs a CUDA device"
    )


def test_cuda_without_a_gpu(render_cli, shapes_video):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here")
    assert_fails(
        render_cli(shapes_video.path, "--device", "cuda"), "--device cuda: torch finds no CUDA GPU"
    )


def test_a_video_that_ends_early_is_rendered_up_to_its_end(render_cli, tmp_path):
    video = make_video(tmp_path / "cut.mkv", frames=30, audio=False)
    data = video.path.read_bytes()
    cut = tmp_path / "cut-short.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "cut.mp4"
    result = render_cli(cut, "-o", out, "--segmenter", SHAPES)
    assert result.code == 0, result.err
    frames = len(read_video(out).frames)
    assert 10 < frames < 30
