"""The package's layout holds (see docs/development/layout.md).

Rooms (a folder of the package, or a module at its top) stand in layers, and import only rooms
of lower layers; no module imports itself back through others; the control protocol stands
alone and imports in a Python without gpiozero; no module of the daemon writes another's
attributes; the daemon leaves out the maker's tools, the render job and torch; the tests
mirror the package, with one naming scheme.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

from party_button.control.protocol import COMMANDS
from party_button.daemon.events import REQUESTS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "party_button"
TESTS = REPO / "tests"

# The rooms of the package, bottom layer first; docs/development/layout.md says why.
LAYERS = (
    ("errors", "phase", "atomic", "names", "log_limit", "small_files"),
    ("song_file", "systemd", "sync_status"),
    ("control", "gpio", "lights", "beats", "render"),
    ("config",),
    ("media", "maker"),
    ("daemon", "mqtt", "sync"),
    ("web",),
    ("testing",),
    ("cli",),
)
LAYER_OF = {room: number for number, rooms in enumerate(LAYERS) for room in rooms}
# What the control protocol may import of the package: itself, the shared errors and the
# throttled log.
PROTOCOL_IMPORTS = {"control", "errors", "log_limit"}


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package, by dotted name (entry points, ``__main__``, left out)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports_of(name: str, path: Path) -> set[str]:
    """The package's modules that ``path`` imports anywhere (in functions, for types too)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = dict(modules())
    return {module for module in found if module in known and module != name}


def room_of(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def import_graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules()}


def test_every_room_stands_in_a_layer() -> None:
    rooms = {room_of(name) for name, _path in modules() if name != "party_button"}
    assert sorted(rooms - set(LAYER_OF)) == []


def test_rooms_import_only_rooms_of_lower_layers() -> None:
    upward = []
    for importer, imported in import_graph().items():
        if importer == "party_button":
            continue
        for module in imported:
            if module == "party_button":
                continue
            mine, theirs = room_of(importer), room_of(module)
            if mine != theirs and LAYER_OF[theirs] >= LAYER_OF[mine]:
                upward.append(f"{importer} -> {module}")
    assert sorted(upward) == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of ``graph`` (Tarjan's components of more than one node)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_module_imports_itself_back_through_others() -> None:
    graph = {
        name: {m for m in imported if m != "party_button"}
        for name, imported in import_graph().items()
    }
    assert strongly_connected(graph) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_control_protocol_imports_only_itself_and_the_errors() -> None:
    outside = {
        f"{importer} -> {module}"
        for importer, imported in import_graph().items()
        if room_of(importer) == "control"
        for module in imported
        if room_of(module) not in PROTOCOL_IMPORTS
    }
    assert sorted(outside) == []


def test_the_control_client_imports_in_a_python_without_gpiozero() -> None:
    """A meta-path finder refuses gpiozero (and the daemon's rooms): the client still loads."""
    code = textwrap.dedent(
        """
        import importlib.abc, sys

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                refused = ("gpiozero", "party_button.daemon", "party_button.config",
                           "party_button.gpio", "party_button.media", "pygame")
                if name.split(".")[0] == "gpiozero" or name.startswith(refused[1:]):
                    raise ImportError(f"{name} is not installed here")

        sys.meta_path.insert(0, Refuse())
        import party_button.control.client, party_button.control.watch_follower
        from party_button.control.protocol import COMMANDS
        print(" ".join(COMMANDS))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == list(COMMANDS)


def test_the_daemon_maps_every_command_of_the_protocol_to_an_event() -> None:
    assert list(REQUESTS) == list(COMMANDS)


def test_no_module_of_the_daemon_writes_another_objects_attributes() -> None:
    writes = []
    for path in sorted((PACKAGE / "daemon").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and not (
                        isinstance(part.value, ast.Name) and part.value.id in ("self", "cls")
                    ):
                        writes.append(f"{path.name}:{node.lineno}: {ast.unparse(part)}")
    assert writes == []


def test_the_attribute_write_check_sees_a_write() -> None:
    tree = ast.parse("self.daemon.hardware = None")
    target = tree.body[0].targets[0]
    assert isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)


def imported_after(code: str) -> set[str]:
    """The modules that a fresh Python has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_mqtt_command_loads_neither_the_schema_nor_gpiozero() -> None:
    loaded = imported_after(
        "import party_button.cli.main as m; m.build_parser(); import party_button.mqtt.bridge"
    )
    assert (
        sorted(n for n in loaded if n.startswith(("gpiozero", "party_button.config.schema"))) == []
    )


def test_the_web_command_loads_neither_the_schema_nor_gpiozero() -> None:
    """The whole config is checked in a child (``party_button.web.page_config``): the
    long-lived web service keeps neither the schema nor gpiozero."""
    loaded = imported_after(
        "import party_button.cli.main as m; m.build_parser(); "
        "import party_button.cli.web, party_button.web.app"
    )
    assert "aiohttp.web" in loaded
    assert (
        sorted(n for n in loaded if n.startswith(("gpiozero", "party_button.config.schema"))) == []
    )


def test_the_daemons_command_line_leaves_out_what_only_other_commands_use() -> None:
    """Memory the daemon never uses: numpy, which pygame imports for its array modules (some
    16 MB), asyncio for the web command, urllib with ssl for the wiring page (some 4 MB)."""
    loaded = imported_after(
        "import party_button.cli.main, party_button.daemon.daemon; "
        "party_button.cli.main.build_parser()"
    )
    assert "pygame.mixer" in loaded
    assert sorted({"numpy", "asyncio", "ssl", "urllib.request"} & loaded) == []
    later = imported_after("import party_button.daemon.daemon, numpy, pygame.sndarray")
    assert {"numpy", "pygame.sndarray"} <= later


def test_the_daemon_imports_neither_the_makers_tools_nor_the_render_job_nor_torch() -> None:
    loaded = imported_after("import party_button.daemon.daemon")
    assert (
        sorted(
            name
            for name in loaded
            if name.split(".")[0] in ("torch", "ray")
            or name.startswith(("party_button.maker", "party_button.render", "party_button.cli"))
        )
        == []
    )


def test_the_daemon_and_its_command_line_never_import_torch() -> None:
    loaded = imported_after(
        "import party_button.cli.main, party_button.daemon.daemon, party_button.cli.simulation; "
        "party_button.cli.main.build_parser()"
    )
    assert sorted({"torch", "torchvision", "av", "librosa"} & loaded) == []


def test_no_function_of_the_daemon_package_is_long() -> None:
    long_functions = []
    for module in sorted((PACKAGE / "daemon").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 40:
                long_functions.append(f"{module.name}:{node.name}")
    assert long_functions == []


def all_test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_tests_mirror_the_package_with_one_naming_scheme() -> None:
    """tests/FOLDER/test_FOLDER_*.py for a folder (of the package or the repository);
    tests/test_MODULE_*.py for a module at the package's top (and the layout rules)."""
    tops = {path.stem for path in PACKAGE.glob("*.py")} | {"layout", "doctests"}
    folders = {p.name for p in [*PACKAGE.iterdir(), *REPO.iterdir()] if p.is_dir()} | {"system"}
    misplaced = []
    for path in all_test_files():
        where = path.relative_to(TESTS).parts
        if len(where) == 1:
            ok = any(path.stem.startswith(f"test_{top}_") for top in tops)
        else:
            ok = (
                len(where) == 2
                and where[0] in folders
                and path.stem.startswith(f"test_{where[0]}_")
            )
        if not ok:
            misplaced.append(str(path.relative_to(REPO)))
    assert misplaced == []


def test_test_file_names_are_unique_across_the_tree() -> None:
    names = [path.name for path in all_test_files()]
    assert sorted({name for name in names if names.count(name) > 1}) == []
