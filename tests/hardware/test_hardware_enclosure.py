"""The OpenSCAD enclosure renders to closed, printable solids for every part and size."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trimesh

SCAD = Path(__file__).resolve().parents[2] / "hardware" / "enclosure.scad"
OPENSCAD = shutil.which("openscad")

pytestmark = [
    pytest.mark.skipif(
        OPENSCAD is None, reason="openscad is not installed (Debian: apt-get install openscad)"
    ),
    pytest.mark.slow,  # openscad renders for a minute in all: make check leaves it out
]


def render(tmp_path: Path, **parameters: object) -> trimesh.Trimesh:
    """Render the enclosure with ``-D name=value`` overrides; return the mesh."""
    out = tmp_path / "out.stl"
    command = [OPENSCAD, "-o", str(out)]
    for name, value in parameters.items():
        literal = f'"{value}"' if isinstance(value, str) else str(value)  # lists print as [a, b]
        command += ["-D", f"{name}={literal}"]
    result = subprocess.run(
        [*command, str(SCAD)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return trimesh.load_mesh(out, process=True)


def assert_closed_solid(mesh: trimesh.Trimesh) -> None:
    """Every edge is shared by two faces, consistently wound, enclosing a positive volume."""
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume > 0


@pytest.mark.parametrize("part", ["base", "lid"])
def test_default_parts_are_closed_solids(tmp_path: Path, part: str) -> None:
    mesh = render(tmp_path, part=part)
    assert_closed_solid(mesh)
    assert mesh.volume > 10_000  # mm^3: a real part, not a sliver


def test_big_button_and_other_boards_give_closed_larger_parts(tmp_path: Path) -> None:
    small = render(tmp_path, part="lid")
    big = render(
        tmp_path,
        part="lid",
        button_d=100,
        relay_size=[106, 57],
        relay_holes=[100, 51],
        wall=3,
    )
    assert_closed_solid(big)
    (low_s, high_s), (low_b, high_b) = small.bounds, big.bounds
    width_small, width_big = high_s[1] - low_s[1], high_b[1] - low_b[1]
    length_small, length_big = high_s[0] - low_s[0], high_b[0] - low_b[0]
    assert width_big >= 100 + 6  # the dome fits on the lid with a margin
    assert width_big > width_small
    assert length_big - length_small == pytest.approx(106 - 75 + 2 * (3 - 2.5))


def test_base_with_other_options_is_a_closed_solid(tmp_path: Path) -> None:
    assert_closed_solid(
        render(tmp_path, part="base", button_d=80, cable_exits=2, vent_slots=5, wall=2)
    )


def test_out_of_range_button_fails_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [OPENSCAD, "-o", str(tmp_path / "x.stl"), "-D", "button_d=200", str(SCAD)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "button_d must be 40..120 mm" in result.stderr
