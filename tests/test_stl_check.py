"""The STL reader and the closed-solid check, on meshes the tests build themselves."""

from __future__ import annotations

import struct
from itertools import product
from pathlib import Path

import pytest

from party_button.errors import StlError
from party_button.stl_check import check_solid, parse_stl, read_stl

Triangle = tuple[tuple[float, float, float], ...]


def cube_triangles(size: float = 2.0) -> list[Triangle]:
    """A closed cube with outward normals: two counter-clockwise triangles per face."""
    corners = {key: tuple(size * c for c in key) for key in product((0, 1), repeat=3)}
    # Each face as four corners counter-clockwise seen from outside.
    faces = [
        [(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)],  # bottom, normal -z
        [(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],  # top, +z
        [(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)],  # front, -y
        [(0, 1, 0), (0, 1, 1), (1, 1, 1), (1, 1, 0)],  # back, +y
        [(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0)],  # left, -x
        [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)],  # right, +x
    ]
    triangles = []
    for a, b, c, d in faces:
        triangles.append((corners[a], corners[b], corners[c]))
        triangles.append((corners[a], corners[c], corners[d]))
    return triangles


def ascii_stl(triangles: list[Triangle]) -> bytes:
    lines = ["solid test"]
    for triangle in triangles:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x} {y} {z}" for x, y, z in triangle]
        lines += ["    endloop", "  endfacet"]
    lines.append("endsolid test")
    return "\n".join(lines).encode()


def binary_stl(triangles: list[Triangle]) -> bytes:
    # A header that starts with "solid" must not fool the reader into ASCII mode.
    data = b"solid but binary".ljust(80, b" ") + struct.pack("<I", len(triangles))
    for triangle in triangles:
        data += struct.pack("<12fH", 0, 0, 0, *[c for v in triangle for c in v], 0)
    return data


@pytest.mark.parametrize("encode", [ascii_stl, binary_stl])
def test_closed_cube_is_a_solid_with_its_volume(encode) -> None:
    report = check_solid(parse_stl(encode(cube_triangles(2.0))))
    assert report.closed, report.problems
    assert report.triangles == 12
    assert report.volume == pytest.approx(8.0)


@pytest.mark.parametrize("encode", [ascii_stl, binary_stl])
def test_cube_without_its_top_is_open(encode) -> None:
    triangles = cube_triangles()
    del triangles[2:4]
    report = check_solid(parse_stl(encode(triangles)))
    assert not report.closed
    assert any("without a matching opposite edge" in problem for problem in report.problems)


def test_flipped_triangle_is_reported() -> None:
    triangles = cube_triangles()
    a, b, c = triangles[5]
    triangles[5] = (a, c, b)
    report = check_solid(parse_stl(ascii_stl(triangles)))
    assert not report.closed
    assert any("same direction" in problem for problem in report.problems)


def test_inside_out_cube_has_negative_volume() -> None:
    triangles = [(a, c, b) for a, b, c in cube_triangles()]
    report = check_solid(parse_stl(ascii_stl(triangles)))
    assert report.volume == pytest.approx(-8.0)
    assert any("positive volume" in problem for problem in report.problems)


def test_two_separate_cubes_are_still_closed() -> None:
    shifted = [tuple((x + 5, y, z) for x, y, z in t) for t in cube_triangles()]
    report = check_solid(parse_stl(binary_stl(cube_triangles() + shifted)))
    assert report.closed, report.problems
    assert report.volume == pytest.approx(16.0)


def test_degenerate_triangle_is_reported() -> None:
    triangles = cube_triangles()
    corner = triangles[0][0]
    triangles.append((corner, corner, triangles[0][1]))
    report = check_solid(parse_stl(ascii_stl(triangles)))
    assert any("degenerate" in problem for problem in report.problems)


def test_bounds_of_a_cube() -> None:
    mesh = parse_stl(ascii_stl(cube_triangles(3.0)))
    assert mesh.bounds() == ((0.0, 0.0, 0.0), (3.0, 3.0, 3.0))


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.stl"
    path.write_bytes(b"not an stl file at all")
    with pytest.raises(StlError, match=r"broken\.stl: neither ASCII STL"):
        read_stl(path)


def test_bad_vertex_line_names_file_and_line() -> None:
    data = b"solid x\n facet normal 0 0 1\n  outer loop\n   vertex 1 2 oops\n"
    with pytest.raises(StlError, match=r"part.stl:4: expected 'vertex X Y Z'"):
        parse_stl(data, source="part.stl")


def test_facet_with_two_vertices_is_an_error() -> None:
    data = (
        b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\nendfacet\n"
    )
    with pytest.raises(StlError, match=r":7: a facet needs 3 vertices, got 2"):
        parse_stl(data)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StlError, match="cannot read"):
        read_stl(tmp_path / "absent.stl")
