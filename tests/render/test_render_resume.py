"""Nothing is lost and nothing half-made is published: interruptions and ``--resume``."""

from __future__ import annotations

import json
import resource
import signal
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")

from conftest import SHAPES, run_module  # noqa: E402
from render_shapes import read_video  # noqa: E402

STOPPING = "render_shapes:StoppingSegmenter"


def work_folder(clip: Path) -> Path:
    return clip.parent / f".{clip.name}.render"


def saved_frames(clip: Path) -> int:
    return json.loads((work_folder(clip) / "state.json").read_text())["frames"]


def assert_same_clip(clip: Path, reference: Path) -> None:
    """Same pictures, timestamps, audio and detections as ``reference``."""
    ours, theirs = read_video(clip), read_video(reference)
    assert len(ours.frames) == len(theirs.frames)
    assert ours.times == theirs.times
    for index, (a, b) in enumerate(zip(ours.frames, theirs.frames, strict=True)):
        assert np.array_equal(a, b), f"frame {index} differs"
    assert ours.audio_seconds == theirs.audio_seconds
    frames = json.loads(clip.with_suffix(".json").read_text())["frames"]
    assert frames == json.loads(reference.with_suffix(".json").read_text())["frames"]


def stop_env(clip: Path, signal_name: str, after: int = 30) -> dict[str, str]:
    return {
        "SHAPES_STOP_AFTER": str(after),
        "SHAPES_SIGNAL": signal_name,
        "SHAPES_WAIT_FOR": str(work_folder(clip) / "state.json"),
    }


def test_resume_after_a_crash_gives_the_same_clip(
    shapes_video, rendered_shapes, tmp_path, render_cli
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    crashed = run_module(
        shapes_video.path,
        "--segmenter",
        STOPPING,
        "--no-progress",
        cwd=tmp_path,
        env=stop_env(clip, "SIGKILL"),
    )
    assert crashed.returncode == -signal.SIGKILL
    assert not clip.exists() and not clip.with_suffix(".json").exists()
    assert 0 < saved_frames(clip) < shapes_video.frames
    result = render_cli(
        shapes_video.path, "--segmenter", STOPPING, "--resume", songs=tmp_path / "songs"
    )
    assert result.code == 0, result.err
    assert "(resumed)" in result.out
    assert_same_clip(clip, rendered_shapes)
    assert json.loads(clip.with_suffix(".json").read_text())["run"]["runs"] == 2
    assert not work_folder(clip).exists()


def test_ctrl_c_keeps_the_work_and_resume_finishes(
    shapes_video, rendered_shapes, tmp_path, render_cli, monkeypatch
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    for name, value in stop_env(clip, "SIGINT").items():
        monkeypatch.setenv(name, value)
    stopped = render_cli(shapes_video.path, "--segmenter", STOPPING)
    assert stopped.code == 130
    assert stopped.err.count("\n") == 1 and "--resume" in stopped.err
    assert not clip.exists()
    kept = saved_frames(clip)
    assert 0 < kept < shapes_video.frames

    monkeypatch.delenv("SHAPES_STOP_AFTER")
    again = render_cli(shapes_video.path, "--segmenter", STOPPING)
    assert again.code == 1
    assert "unfinished render" in again.err and "--resume" in again.err
    other = render_cli(shapes_video.path, "--segmenter", STOPPING, "--resume", "--glow", "3")
    assert other.code == 1
    assert "--resume" in other.err and "style" in other.err
    assert saved_frames(clip) == kept

    result = render_cli(shapes_video.path, "--segmenter", STOPPING, "--resume")
    assert result.code == 0, result.err
    assert_same_clip(clip, rendered_shapes)


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_write_publishes_nothing_and_resume_finishes(
    shapes_video, rendered_shapes, tmp_path, render_cli
):
    clip = tmp_path / "songs" / "shapes.outlined.mp4"
    limit = rendered_shapes.stat().st_size * 2 // 3
    failed = run_module(
        shapes_video.path,
        "--segmenter",
        SHAPES,
        "--no-progress",
        cwd=tmp_path,
        preexec_fn=limit_file_size(limit),
    )
    assert failed.returncode == 1
    message = failed.stderr.strip().splitlines()[-1]
    assert "File too large" in message and "--resume" in message
    assert "Traceback" not in failed.stderr
    assert not clip.exists() and not clip.with_suffix(".json").exists()
    assert saved_frames(clip) == shapes_video.frames
    result = render_cli(
        shapes_video.path, "--segmenter", SHAPES, "--resume", songs=tmp_path / "songs"
    )
    assert result.code == 0, result.err
    assert_same_clip(clip, rendered_shapes)


def test_an_existing_clip_is_replaced_only_with_overwrite(shapes_video, tmp_path, render_cli):
    clip = tmp_path / "clip.mp4"
    assert (
        render_cli(shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "3").code == 0
    )
    again = render_cli(shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "5")
    assert again.code == 1 and "--overwrite" in again.err
    assert len(read_video(clip).frames) == 3
    replaced = render_cli(
        shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "5", "--overwrite"
    )
    assert replaced.code == 0, replaced.err
    assert len(read_video(clip).frames) == 5


def test_resume_with_nothing_to_resume_starts_from_the_start(shapes_video, tmp_path, render_cli):
    clip = tmp_path / "clip.mp4"
    result = render_cli(
        shapes_video.path, "-o", clip, "--segmenter", SHAPES, "--frames", "4", "--resume"
    )
    assert result.code == 0, result.err
    assert "(resumed)" not in result.out
    assert len(read_video(clip).frames) == 4
