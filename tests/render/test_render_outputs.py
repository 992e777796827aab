"""A render never loses the user's data: its clip, sidecar and work folder never land on an
input, on a file it did not make, or on another run's work, and nothing half-made ever
replaces a good clip."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("torchvision")

from conftest import SHAPES, run_module

from party_button.testing.render import make_video, read_video, work_folder


@pytest.fixture
def video(shapes_video, tmp_path) -> Path:
    """A copy of the test video that tests may link to."""
    copy = tmp_path / "in" / "party.mp4"
    copy.parent.mkdir()
    shutil.copyfile(shapes_video.path, copy)
    return copy


def refused(result, *fragments: str) -> None:
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_the_clip_never_replaces_its_input(video, render_cli, tmp_path, monkeypatch):
    original = video.read_bytes()
    symlink = tmp_path / "link.mp4"
    symlink.symlink_to(video)
    hardlink = tmp_path / "hard.mp4"
    os.link(video, hardlink)
    monkeypatch.chdir(video.parent)
    for output in (video, symlink, hardlink, Path("./party.mp4"), Path("../in/party.mp4")):
        result = render_cli(video, "-o", output, "--overwrite", "--segmenter", SHAPES)
        refused(result, f"the clip {output} would replace the input video {video}")
    assert video.read_bytes() == original
    assert sorted(p.name for p in video.parent.iterdir()) == ["party.mp4"]


def render_with_a_copy_in_songs(video: Path, name: str, render_cli, tmp_path: Path):
    """Render ``video`` and a copy of it named ``name`` in the songs library, together."""
    songs = tmp_path / "songs"
    songs.mkdir()
    copy = songs / name
    shutil.copyfile(video, copy)
    return songs, copy, render_cli(video, copy, "--segmenter", SHAPES, songs=songs)


def test_the_sidecar_never_replaces_an_input(video, render_cli, tmp_path):
    songs, named_like_a_sidecar, result = render_with_a_copy_in_songs(
        video, "party.outlined.json", render_cli, tmp_path
    )
    assert result.code == 1
    assert f"the sidecar {named_like_a_sidecar} would replace the input video" in result.err
    assert named_like_a_sidecar.read_bytes() == video.read_bytes()
    assert not (songs / "party.outlined.mp4").exists()

    clip_json = tmp_path / "clip.json"
    shutil.copyfile(video, clip_json)
    result = render_cli(video, "-o", tmp_path / "clip.mp4", "--overwrite", "--segmenter", SHAPES)
    refused(result, f"{clip_json}: exists and is not the sidecar of a party-button clip")
    assert clip_json.read_bytes() == video.read_bytes()


def test_a_clip_never_replaces_another_input_of_the_same_command(video, render_cli, tmp_path):
    songs, looks_like_a_clip, result = render_with_a_copy_in_songs(
        video, "party.outlined.mp4", render_cli, tmp_path
    )
    assert result.code == 1
    assert f"would replace the input video {looks_like_a_clip}" in result.err
    assert looks_like_a_clip.read_bytes() == video.read_bytes()
    assert (songs / "party.outlined.outlined.mp4").exists()
    assert "1 rendered, 0 resumed, 0 skipped, 1 failed" in result.out


def test_two_videos_never_share_a_clip(video, render_cli, tmp_path):
    other = tmp_path / "other" / "party.mp4"
    other.parent.mkdir()
    shutil.copyfile(video, other)
    twin = video.with_suffix(".mkv")
    make_video(twin, frames=5)
    result = render_cli(video, other, twin, "--segmenter", SHAPES)
    assert result.code == 1
    songs = tmp_path / "songs"
    shared = f"would also be rendered to {songs / 'party.outlined.mp4'}"
    assert result.err.count(shared) == 3
    for name in (video, other, twin):
        assert str(name) in result.err
    assert not songs.exists()
    assert result.out.strip().splitlines()[-1] == "0 rendered, 0 resumed, 0 skipped, 3 failed"


def test_clips_written_into_the_folder_of_their_videos_are_not_inputs(
    shapes_video, render_cli, tmp_path
):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(shapes_video.path, folder / "a.mp4")
    make_video(folder / "sub" / "b.mkv", frames=6)
    named = tmp_path / "named.mp4"
    assert render_cli(folder / "a.mp4", "-o", named, "--segmenter", SHAPES).code == 0
    shutil.move(named, folder / "named.mp4")
    shutil.move(named.with_suffix(".json"), folder / "named.json")
    first = render_cli(folder, "--output-dir", folder, "--segmenter", SHAPES)
    assert first.code == 0, first.err
    assert first.out.strip().splitlines()[-1] == "2 rendered, 0 resumed, 0 skipped, 0 failed"
    again = render_cli(folder, "--output-dir", folder, "--segmenter", SHAPES)
    assert again.out.strip().splitlines()[-1] == "0 rendered, 0 resumed, 2 skipped, 0 failed"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "a.mp4",
        "a.outlined.json",
        "a.outlined.mp4",
        "named.json",
        "named.mp4",
        "sub",
        "sub/b.mkv",
        "sub/b.outlined.json",
        "sub/b.outlined.mp4",
    ]


def test_overwrite_replaces_only_clips_the_render_made(video, render_cli, tmp_path):
    foreign = tmp_path / "holiday.mp4"
    make_video(foreign, frames=4)
    kept = foreign.read_bytes()
    refused(
        render_cli(video, "-o", foreign, "--overwrite", "--segmenter", SHAPES),
        f"{foreign}: exists and was not made by party-button render",
    )
    notes = foreign.with_suffix(".json")
    notes.write_text('{"my": "notes"}')
    refused(
        render_cli(video, "-o", foreign, "--overwrite", "--segmenter", SHAPES),
        f"{notes}: exists and is not the sidecar",
    )
    other_clip = json.dumps({"format": "party-button-render/1", "clip": "other.mp4"})
    notes.write_text(other_clip)
    refused(render_cli(video, "-o", foreign, "--overwrite", "--segmenter", SHAPES), str(notes))
    assert foreign.read_bytes() == kept and notes.read_text() == other_clip
    folder = tmp_path / "a-folder.mp4"
    folder.mkdir()
    refused(render_cli(video, "-o", folder, "--segmenter", SHAPES), "is a folder, not a clip")


def good_clip(video: Path, render_cli, tmp_path: Path) -> tuple[Path, bytes, bytes]:
    clip = tmp_path / "songs" / "party.outlined.mp4"
    assert render_cli(video, "--segmenter", SHAPES, "--frames", "12").code == 0
    return clip, clip.read_bytes(), clip.with_suffix(".json").read_bytes()


def test_a_crash_while_rendering_again_keeps_the_good_clip(video, render_cli, tmp_path):
    clip, picture, sidecar = good_clip(video, render_cli, tmp_path)
    crashed = run_module(
        video,
        "--segmenter",
        "party_button.testing.render:StoppingSegmenter",
        "--overwrite",
        "--no-progress",
        cwd=tmp_path,
        env={
            "SHAPES_STOP_AFTER": "30",
            "SHAPES_SIGNAL": "SIGKILL",
            "SHAPES_WAIT_FOR": str(work_folder(clip) / "state.json"),
        },
    )
    assert crashed.returncode == -signal.SIGKILL
    assert clip.read_bytes() == picture and clip.with_suffix(".json").read_bytes() == sidecar
    again = render_cli(video, "--segmenter", "party_button.testing.render:StoppingSegmenter")
    assert again.code == 0 and "(resumed)" in again.out
    assert len(read_video(clip).frames) == 60


def test_a_full_disk_while_publishing_keeps_the_good_clip(video, render_cli, tmp_path):
    from test_render_resume import limit_file_size

    clip, picture, sidecar = good_clip(video, render_cli, tmp_path)
    failed = run_module(
        video,
        "--segmenter",
        SHAPES,
        "--overwrite",
        "--no-progress",
        cwd=tmp_path,
        preexec_fn=limit_file_size(len(picture) * 3),
    )
    assert failed.returncode == 1 and "File too large" in failed.stderr
    assert clip.read_bytes() == picture and clip.with_suffix(".json").read_bytes() == sidecar


def test_a_crash_between_the_two_renames_is_finished_by_the_next_run(
    video, render_cli, tmp_path, monkeypatch
):
    from party_button.render import job

    clip, picture, _ = good_clip(video, render_cli, tmp_path)
    replace = os.replace

    def crash_before_the_clip(source, target):
        if Path(target) == clip:
            raise KeyboardInterrupt
        replace(source, target)

    monkeypatch.setattr(job.os, "replace", crash_before_the_clip)
    assert render_cli(video, "--segmenter", SHAPES, "--overwrite").code == 130
    monkeypatch.setattr(job.os, "replace", replace)
    assert clip.read_bytes() == picture, "the old clip is still there"
    assert json.loads(clip.with_suffix(".json").read_text())["video"]["frames"] == 60
    done = render_cli(video, "--segmenter", SHAPES)
    assert done.code == 0, done.err
    assert len(read_video(clip).frames) == 60
    assert not work_folder(clip).exists()


def test_a_work_folder_in_use_is_left_alone(video, render_cli, tmp_path):
    clip = tmp_path / "songs" / "party.outlined.mp4"
    folder = work_folder(clip)
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{}")
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = render_cli(video, "--overwrite", "--segmenter", SHAPES)
    refused(result, f"{clip}: process")
    assert "is rendering this clip right now" in result.err
    assert sorted(p.name for p in folder.iterdir()) == ["lock", "state.json"]
    assert (folder / "state.json").read_text() == "{}"


def test_files_the_render_did_not_write_stay_in_the_work_folder(video, render_cli, tmp_path):
    clip = tmp_path / "songs" / "party.outlined.mp4"
    folder = work_folder(clip)
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("keep me")
    assert render_cli(video, "--segmenter", SHAPES, "--frames", "4").code == 0
    assert clip.exists()
    assert [p.name for p in folder.iterdir()] == ["mine.txt"]
