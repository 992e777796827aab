"""Reading STL meshes and checking that one is a closed solid that a slicer can print.

A mesh is a closed solid when every edge is shared by exactly two triangles that run along it
in opposite directions (so the surface is watertight and consistently oriented), no triangle is
degenerate, and the enclosed volume is positive (outward-facing normals).

Example::

    report = check_solid(read_stl(Path("enclosure.stl")))
    if not report.closed:
        raise SystemExit("\\n".join(report.problems))
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from party_button.errors import StlError

Vertex = tuple[float, float, float]
Triangle = tuple[Vertex, Vertex, Vertex]

_BINARY_HEADER = 80
_BINARY_RECORD = struct.Struct("<12fH")
_MAX_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class Mesh:
    """Triangles of a mesh, each as three vertices in file order."""

    triangles: tuple[Triangle, ...]

    def bounds(self) -> tuple[Vertex, Vertex]:
        """The lowest and highest corner of the axis-aligned bounding box."""
        if not self.triangles:
            raise ValueError("an empty mesh has no bounds")
        points = [vertex for triangle in self.triangles for vertex in triangle]
        low = (min(p[0] for p in points), min(p[1] for p in points), min(p[2] for p in points))
        high = (max(p[0] for p in points), max(p[1] for p in points), max(p[2] for p in points))
        return low, high


@dataclass
class SolidReport:
    """What :func:`check_solid` found: the volume and every problem, empty when closed."""

    triangles: int
    volume: float
    problems: list[str] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        """True when the mesh is a closed, outward-oriented solid."""
        return not self.problems


def read_stl(path: Path) -> Mesh:
    """Read an ASCII or binary STL file; StlError names the file and what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise StlError(f"{path}: cannot read: {error.strerror}") from None
    return parse_stl(data, source=str(path))


def parse_stl(data: bytes, source: str = "<stl>") -> Mesh:
    """Parse STL bytes, telling binary from ASCII by the size a binary file would have."""
    if len(data) >= _BINARY_HEADER + 4:
        (count,) = struct.unpack_from("<I", data, _BINARY_HEADER)
        if len(data) == _BINARY_HEADER + 4 + count * _BINARY_RECORD.size:
            return _parse_binary(data, count)
    if data.lstrip().startswith(b"solid"):
        return _parse_ascii(data.decode("ascii", errors="replace"), source)
    raise StlError(f"{source}: neither ASCII STL (no 'solid') nor binary STL (size mismatch)")


def _parse_binary(data: bytes, count: int) -> Mesh:
    triangles = []
    for index in range(count):
        values = _BINARY_RECORD.unpack_from(data, _BINARY_HEADER + 4 + index * _BINARY_RECORD.size)
        triangles.append((values[3:6], values[6:9], values[9:12]))
    return Mesh(tuple(triangles))


def _parse_ascii(text: str, source: str) -> Mesh:
    triangles: list[Triangle] = []
    vertices: list[Vertex] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if words[0] == "vertex":
            try:
                x, y, z = (float(word) for word in words[1:])
            except ValueError:
                raise StlError(
                    f"{source}:{line_number}: expected 'vertex X Y Z', got {line.strip()!r}"
                ) from None
            vertices.append((x, y, z))
        elif words[0] == "endfacet":
            if len(vertices) != 3:
                raise StlError(
                    f"{source}:{line_number}: a facet needs 3 vertices, got {len(vertices)}"
                )
            triangles.append((vertices[0], vertices[1], vertices[2]))
            vertices = []
    if not triangles:
        raise StlError(f"{source}: no facets found")
    return Mesh(tuple(triangles))


def check_solid(mesh: Mesh) -> SolidReport:
    """Check that ``mesh`` is watertight, consistently oriented and has positive volume."""
    edges: Counter[tuple[Vertex, Vertex]] = Counter()
    degenerate = 0
    volume6 = 0.0
    for a, b, c in mesh.triangles:
        if a == b or b == c or c == a:
            degenerate += 1
            continue
        edges.update(((a, b), (b, c), (c, a)))
        volume6 += (
            a[0] * (b[1] * c[2] - b[2] * c[1])
            - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0])
        )
    report = SolidReport(triangles=len(mesh.triangles), volume=volume6 / 6.0)
    if not mesh.triangles:
        report.problems.append("the mesh has no triangles")
        return report
    if degenerate:
        report.problems.append(f"{degenerate} degenerate triangle(s) with repeated vertices")
    open_edges = [edge for edge in edges if (edge[1], edge[0]) not in edges]
    repeated = [edge for edge, count in edges.items() if count > 1]
    if open_edges:
        report.problems.append(
            f"{len(open_edges)} edge(s) without a matching opposite edge (hole or flipped "
            f"triangle), e.g. {_describe(open_edges)}"
        )
    if repeated:
        report.problems.append(
            f"{len(repeated)} edge(s) used more than once in the same direction (non-manifold "
            f"or inconsistent orientation), e.g. {_describe(repeated)}"
        )
    if report.volume <= 0.0:
        report.problems.append(
            f"enclosed volume is {report.volume:.6g}, expected a positive volume "
            "(normals point inwards or the mesh is flat)"
        )
    return report


def _describe(edges: list[tuple[Vertex, Vertex]]) -> str:
    return "; ".join(f"{a} -> {b}" for a, b in edges[:_MAX_LISTED_PROBLEMS])
