"""Reading a YAML file that may be hostile: bounded size, nesting and alias expansion.

:func:`compose_file` reads a config file and returns its YAML node graph, or the reasons it
refuses the file. It never follows a FIFO or device, never reads more than
:data:`MAX_BYTES`, and walks the parser's events once, before anything is built, to stop
alias bombs ("billion laughs"), deep nesting and tags that would construct something other
than plain values. Aliases are allowed; each use counts towards :data:`MAX_VALUES` as if
the aliased value were written out again.

Example::

    node, findings = compose_file(Path("config.yaml"))
    for finding in findings:
        print(f"config.yaml:{finding.line}: {finding.key}: {finding.message}")
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.reader import Reader

from party_button.small_files import FileRefused, read_small_file

# A config is a few kilobytes; these limits are far above any real one and keep a
# hostile file from costing more than a fraction of a second.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_VALUES = 20_000

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a file: its 1-based ``line``, the ``key`` path and a ``message``."""

    line: int
    key: str
    message: str


class _Refused(Exception):
    def __init__(self, line: int, message: str, key: str = "") -> None:
        super().__init__(message)
        self.finding = Finding(line, key, message)


def compose_file(path: Path) -> tuple[yaml.Node | None, list[Finding]]:
    """The node graph of ``path`` (``None`` for an empty document), or why it is refused.

    When the list of findings is not empty the node is ``None`` and must not be used.
    """
    try:
        text = _decode(_read(path))
        _check_printable(text)
        findings = _Events(text).check()
        if findings:
            return None, findings
        return yaml.compose(text, Loader=_Loader), []
    except _Refused as refused:
        return None, [refused.finding]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [Finding(line, "", f"not valid YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:  # an error without a position (PyYAML's reader)
        return None, [Finding(1, "", f"not valid YAML: {exc}")]


def _read(path: Path) -> bytes:
    """The bytes of the regular file ``path``, at most :data:`MAX_BYTES` of them."""
    try:
        return read_small_file(path, MAX_BYTES, follow_links=True)
    except FileRefused as exc:
        if exc.limit is not None:
            limit = f"is larger than {MAX_BYTES // 1024} KiB, the limit for a config file"
            raise _Refused(1, limit) from None
        if exc.mode is not None and stat.S_ISDIR(exc.mode):
            raise _Refused(1, "is a folder, not a config file") from None
        raise _Refused(1, f"is {exc}") from None
    except OSError as exc:
        raise _Refused(1, f"cannot read the file: {exc.strerror or exc}") from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _Refused(
            line, f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column}"
        ) from None


def _check_printable(text: str) -> None:
    """Refuse the control characters that YAML does not allow, naming the line."""
    bad = Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return
    before = text[: bad.start()]
    line = before.count("\n") + 1
    column = bad.start() - (before.rfind("\n") + 1) + 1
    raise _Refused(
        line,
        f"holds the control character U+{ord(bad.group()):04X} at column {column} "
        "(YAML allows only printable text)",
    )


@dataclass
class _Frame:
    """A mapping or list whose end the event walk has not reached yet."""

    is_map: bool
    anchor: str | None
    key_path: str
    values: int = 1
    depth_below: int = 0
    children: int = 0
    key: str = "?"


class _Events:
    """One pass over the parser's events: nesting, expanded size, aliases and tags."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.stack: list[_Frame] = []
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor: (values, collections deep)
        self.total = 0
        self.documents = 0
        self.findings: list[Finding] = []

    def check(self) -> list[Finding]:
        """Walk every event; raise :class:`_Refused` at the first limit that is passed."""
        for event in yaml.parse(self.text, Loader=_Loader):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise _Refused(line, "holds more than one YAML document (one is allowed)")
            elif isinstance(event, yaml.ScalarEvent):
                self._tag(event, line)
                self._add(1, 0, line, event.anchor, event.value)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event.anchor, line)
            elif isinstance(event, yaml.CollectionStartEvent):
                self._tag(event, line)
                self._open(event, line)
            elif isinstance(event, yaml.CollectionEndEvent):
                frame = self.stack.pop()
                self._add(frame.values, frame.depth_below + 1, line, frame.anchor, None, count=0)
        return self.findings

    def _path(self) -> str:
        return self.stack[-1].key_path + self._child_key() if self.stack else ""

    def _child_key(self) -> str:
        frame = self.stack[-1]
        if not frame.is_map:
            return f"[{frame.children}]"
        key = frame.key if frame.children % 2 else "?"
        return f".{key}" if frame.key_path else key

    def _open(self, event: yaml.CollectionStartEvent, line: int) -> None:
        if len(self.stack) + 1 > MAX_DEPTH:
            raise _Refused(line, f"nests deeper than {MAX_DEPTH} levels", self._path())
        self._count(1, line)
        is_map = isinstance(event, yaml.MappingStartEvent)
        self.stack.append(_Frame(is_map, event.anchor, self._path()))

    def _alias(self, anchor: str, line: int) -> None:
        if any(frame.anchor == anchor for frame in self.stack):
            raise _Refused(
                line, f"the alias *{anchor} refers to a value that holds it", self._path()
            )
        if anchor not in self.sizes:
            raise _Refused(line, f"the alias *{anchor} has no anchor &{anchor} before it")
        values, depth = self.sizes[anchor]
        if len(self.stack) + depth > MAX_DEPTH:
            raise _Refused(
                line,
                f"the alias *{anchor} nests deeper than {MAX_DEPTH} levels once expanded",
                self._path(),
            )
        self._add(values, depth, line, None, None)

    def _count(self, values: int, line: int) -> None:
        self.total += values
        if self.total > MAX_VALUES:
            raise _Refused(
                line,
                f"holds more than {MAX_VALUES} values once aliases are expanded",
                self._path(),
            )

    def _add(
        self,
        values: int,
        depth: int,
        line: int,
        anchor: str | None,
        scalar: str | None,
        *,
        count: int | None = None,
    ) -> None:
        """A value of ``values`` nodes, ``depth`` collections deep, is complete at ``line``."""
        self._count(values if count is None else count, line)
        if anchor is not None:
            self.sizes[anchor] = (values, depth)
        if not self.stack:
            return
        parent = self.stack[-1]
        parent.values += values
        parent.depth_below = max(parent.depth_below, depth)
        if parent.is_map and parent.children % 2 == 0:
            parent.key = scalar if scalar is not None else "?"
        parent.children += 1

    def _tag(self, event: yaml.NodeEvent, line: int) -> None:
        tag = getattr(event, "tag", None)
        if tag is None or tag == "!" or tag in ALLOWED_TAGS:
            return
        shown = f"!!{tag[len(_CORE) :]}" if tag.startswith(_CORE) else tag
        self.findings.append(
            Finding(line, self._path(), f"the tag {shown} is not allowed (write plain values)")
        )
