"""The render command without the render extra: it must still load and say what to install.

These tests need only party-button itself, so they run in the daemon's test suite too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

WITHOUT_EXTRA = textwrap.dedent("""
    import sys
    for name in ("torch", "torchvision", "av", "numpy", "tqdm", "PIL"):
        sys.modules[name] = None
    from party_button.render.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def run_without_extra(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the render command in a Python that cannot import the render extra."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(REPO)},
    )


def test_without_the_extra_the_command_says_what_to_install(tmp_path):
    done = run_without_extra(tmp_path, "video.mp4", "--frames", "3")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "party-button render needs the render extra: pip install 'party-button[render]'"
    )
    assert not (tmp_path / "songs").exists()


def test_usage_errors_are_argparse_errors(tmp_path):
    done = run_without_extra(tmp_path, "video.mp4", "--frames", "x")
    assert done.returncode == 2
    assert "--frames: invalid int value: 'x'" in done.stderr


def test_the_command_module_needs_no_heavy_imports():
    code = (
        "import sys; import party_button.cli.render; "
        "print(sorted({'torch', 'torchvision', 'av', 'numpy', 'PIL'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert done.stdout.strip() == "[]"


def test_arguments_and_defaults():
    from party_button.cli.render import add_arguments, options_from

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["clips/makeba.mp4"])
    assert args.videos == [Path("clips/makeba.mp4")] and args.ray is None
    options = options_from(args, args.videos[0], Path("/srv/songs/makeba.outlined.mp4"))
    assert options.sidecar == Path("/srv/songs/makeba.outlined.json")
    assert options.classes == ("person",)
    assert (options.model, options.device, options.height) == (
        "maskrcnn_resnet50_fpn_v2",
        "auto",
        720,
    )
    assert options.audio and not options.overwrite and not options.half
    args = parser.parse_args(
        [
            "v.mp4",
            "-o",
            "x/clip.mp4",
            "--classes",
            "person, dog",
            "--start",
            "1:30",
            "--frames",
            "10",
            "--no-audio",
            "--model",
            "maskrcnn_resnet50_fpn",
            "--fill",
            "0.25",
        ]
    )
    assert args.output == Path("x/clip.mp4")
    options = options_from(args, args.videos[0], args.output)
    assert options.classes == ("person", "dog")
    assert options.start.total_seconds() == 90 and options.frames == 10
    assert not options.audio and options.style.fill == 0.25
