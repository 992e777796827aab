"""Typed reading of YAML documents that remembers where every value came from.

A schema is written as ordinary code over :class:`MapReader` and :class:`ListReader`.
Every problem found is collected in a shared :class:`Problems` list as
``FILE:LINE: key.path: message`` instead of raised, so a user sees all of them at once.
The file itself is read by :mod:`party_button.config.yaml_guard`, within its limits.

Values are plain: strings, numbers, booleans, null, lists and mappings whose keys are
names. A number is finite; a key that YAML reads as something else (``on``, ``1``,
``null``) must be quoted to be a name.

Example::

    problems = Problems(path)
    root = MapReader.load(path, problems)
    hold = root.map("button").number("hold_time", 2.0, minimum=0.1, maximum=30.0)
    root.finish()
    problems.raise_if_any()
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from party_button.config.yaml_guard import compose_file
from party_button.errors import ConfigError

_MISSING: Any = object()
_CORE = "tag:yaml.org,2002:"
_CONSTRUCTOR = SafeConstructor()
_SCALAR_TAGS = tuple(f"{_CORE}{name}" for name in ("int", "float", "bool", "null"))
# A problem's message is cut at this length: a hostile value must not make a huge line.
MAX_MESSAGE = 300


class Problems:
    """Collects ``FILE:LINE: key: message`` lines for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._found: list[tuple[int, str]] = []
        self._seen: set[str] = set()

    @property
    def lines(self) -> list[str]:
        """Every problem so far, ordered by line."""
        return [text for _line_no, text in sorted(self._found, key=lambda item: item[0])]

    def add(self, line: int, key: str, message: str) -> None:
        """Record one problem at a 1-based ``line`` for ``key``."""
        where = f"{self.path}:{line}"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        if text not in self._seen:  # a value reached twice through an alias is told once
            self._seen.add(text)
            self._found.append((line, text))

    def raise_if_any(self) -> None:
        """Raise :class:`ConfigError` with every problem collected so far."""
        if self._found:
            raise ConfigError(self.lines)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The plain value of a scalar: str, int, float, bool or ``None``.

    Plain text that YAML 1.1 would read as a date (or ``=``, ``<<``) stays text. A number
    too long for Python to convert raises ``ValueError``.
    """
    if node.tag not in _SCALAR_TAGS:
        return node.value
    return SafeConstructor.yaml_constructors[node.tag](_CONSTRUCTOR, node)


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut when long."""
    text = repr(value)
    return f"{text[:30]}… ({len(text)} characters)" if len(text) > 40 else text


def describe(value: Any) -> str:
    """``str 'abc'``, ``int 5``, ``nothing``: a value and its type, for a message."""
    return "nothing" if value is None else f"{type(value).__name__} {shown(value)}"


def _type_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    try:
        return describe(scalar_value(node))
    except ValueError:
        return "a number too long to read"


def _number_text(value: float) -> str:
    if isinstance(value, int) and len(str(abs(value))) > 15:
        return f"a {len(str(abs(value)))}-digit number"
    return f"{value:g}"


def _key_problem(node: yaml.Node) -> str | None:
    """Why ``node`` cannot be a mapping key, or ``None`` when it is a name."""
    if not isinstance(node, yaml.ScalarNode):
        return f"a key must be a name, got {_type_name(node)}"
    if node.tag == f"{_CORE}merge":
        return "merge keys (<<) are not supported: write the keys out"
    if node.tag in _SCALAR_TAGS:
        try:
            value = scalar_value(node)
        except ValueError:
            value = node.value
        read_as = "null" if value is None else str(value).lower()
        return f"the key {shown(node.value)} is read by YAML as {read_as}, not a name (quote it)"
    return _text_problem(node.value)


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a name, path or option (a ``\\0`` escape), or ``None``."""
    return "must not hold a NUL character" if "\0" in text else None


def _join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class _Reader:
    def __init__(self, node: yaml.Node, keypath: str, problems: Problems) -> None:
        self.node = node
        self.keypath = keypath
        self.problems = problems

    @property
    def line(self) -> int:
        """The 1-based line where this value starts."""
        return _line(self.node)

    def error(
        self, message: str, key: str | int | None = None, node: yaml.Node | None = None
    ) -> None:
        """Record a problem about this value, or about its child ``key``."""
        keypath = self.keypath if key is None else _join(self.keypath, key)
        self.problems.add(_line(node or self.node), keypath, message)


class MapReader(_Reader):
    """Reads typed values from a YAML mapping and reports unknown keys on :meth:`finish`."""

    def __init__(
        self, node: yaml.MappingNode, keypath: str, problems: Problems, *, present: bool = True
    ) -> None:
        super().__init__(node, keypath, problems)
        self.present = present
        self._items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        self._used: set[str] = set()
        for key_node, value_node in node.value:
            problem = _key_problem(key_node)
            if problem is not None:
                problems.add(_line(key_node), keypath, problem)
                continue
            key = key_node.value
            if key in self._items:
                problems.add(_line(key_node), _join(keypath, key), "key is given twice")
            self._items[key] = (key_node, value_node)

    @classmethod
    def load(cls, path: Path, problems: Problems) -> MapReader:
        """Parse ``path``; an unreadable, malformed or empty file becomes a problem."""
        empty = yaml.MappingNode(f"{_CORE}map", [])
        empty.start_mark = yaml.Mark(str(path), 0, 0, 0, None, None)
        empty_root = cls(empty, "", problems, present=False)
        node, findings = compose_file(path)
        for finding in findings:
            problems.add(finding.line, finding.key, finding.message)
        if findings:
            return empty_root
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == f"{_CORE}null"):
            problems.add(1, "", "has no settings (it is empty or only comments)")
            return empty_root
        if not isinstance(node, yaml.MappingNode):
            problems.add(_line(node), "", f"expected a mapping at the top, got {_type_name(node)}")
            return empty_root
        return cls(node, "", problems)

    def error(
        self, message: str, key: str | int | None = None, node: yaml.Node | None = None
    ) -> None:
        """Record a problem about this mapping, or at the value of its ``key``."""
        if node is None and isinstance(key, str) and key in self._items:
            node = self._items[key][1]
        super().error(message, key, node)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        """The keys present, in file order."""
        return list(self._items)

    def key_line(self, key: str) -> int:
        """The line of ``key``, or of this mapping when the key is absent."""
        item = self._items.get(key)
        return _line(item[0]) if item else self.line

    def _take(self, key: str) -> yaml.Node | None:
        self._used.add(key)
        item = self._items.get(key)
        return item[1] if item else None

    def _missing(self, key: str, default: Any, what: str) -> Any:
        if default is _MISSING:
            self.error(f"is required ({what})", key)
            return None
        return default

    def _scalar(self, key: str) -> tuple[yaml.Node | None, Any]:
        node = self._take(key)
        if node is None:
            return None, _MISSING
        if not isinstance(node, yaml.ScalarNode):
            return node, _MISSING
        try:
            return node, scalar_value(node)
        except ValueError:
            return node, _MISSING

    def scalar(self, key: str, expected: str) -> Any:
        """The plain value of ``key`` (``None`` when absent); a list or mapping is reported.

        ``expected`` says what was wanted, for the message; a string is checked for
        characters that cannot be text.
        """
        node, value = self._scalar(key)
        if node is None:
            return None
        if value is _MISSING:
            self.error(f"expected {expected}, got {_type_name(node)}", key, node)
            return None
        if isinstance(value, str) and (problem := _text_problem(value)):
            self.error(problem, key, node)
            return None
        return value

    def string(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        choices: tuple[str, ...] | None = None,
        allow_empty: bool = False,
    ) -> Any:
        """A string; with ``choices``, one of them (with a "did you mean" hint)."""
        node, value = self._scalar(key)
        if node is None:
            return self._missing(key, default, "a string")
        if value is None and default is not _MISSING and default is None:
            return None
        if isinstance(value, bool | int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.error(f"expected a string, got {_type_name(node)}", key, node)
            return None if default is _MISSING else default
        if problem := _text_problem(value):
            self.error(problem, key, node)
            return None if default is _MISSING else default
        if not value and not allow_empty:
            self.error("must not be empty", key, node)
            return None if default is _MISSING else default
        if choices is not None and value not in choices:
            hint = did_you_mean(value, choices)
            self.error(
                f"expected one of {', '.join(choices)}, got {shown(value)}{hint}",
                key,
                node,
            )
            return None if default is _MISSING else default
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        """A YAML boolean (``true``/``false``)."""
        node, value = self._scalar(key)
        if node is None:
            return self._missing(key, default, "true or false")
        if not isinstance(value, bool):
            self.error(f"expected true or false, got {_type_name(node)}", key, node)
            return None if default is _MISSING else default
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        minimum: float,
        maximum: float,
        integer: bool = False,
        optional: bool = False,
    ) -> Any:
        """A finite int or float within ``[minimum, maximum]``; ``optional`` accepts ``null``."""
        node, value = self._scalar(key)
        if node is None:
            return self._missing(key, default, "a number")
        if value is None and optional:
            return None
        fallback = None if default is _MISSING else default
        if value is _MISSING and isinstance(node, yaml.ScalarNode):
            self.error("is a number too long to read", key, node)
            return fallback
        wanted = "an integer" if integer else "a number"
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            self.error(f"expected {wanted}, got {_type_name(node)}", key, node)
            return fallback
        if not math.isfinite(value):
            self.error(f"must be a finite number, got {node.value}", key, node)
            return fallback
        if value < minimum:
            self.error(f"must be at least {minimum:g}, got {_number_text(value)}", key, node)
            return fallback
        if value > maximum:
            self.error(f"must be at most {maximum:g}, got {_number_text(value)}", key, node)
            return fallback
        return value

    def map(self, key: str, *, required: bool = False) -> MapReader:
        """The mapping under ``key``; absent (or wrong) gives an empty reader."""
        node = self._take(key)
        keypath = _join(self.keypath, key)
        if node is None or (
            isinstance(node, yaml.ScalarNode)
            and node.value in ("", "~", "null")
            and node.tag.endswith("null")
        ):
            if required:
                self.error("is required (a mapping)", key)
            return _empty_map(self.node if node is None else node, keypath, self.problems)
        if not isinstance(node, yaml.MappingNode):
            self.error(f"expected a mapping, got {_type_name(node)}", key, node)
            return _empty_map(node, keypath, self.problems)
        return MapReader(node, keypath, self.problems)

    def list(self, key: str, *, required: bool = False) -> ListReader:
        """The list under ``key``; absent (or wrong) gives an empty reader."""
        node = self._take(key)
        keypath = _join(self.keypath, key)
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith("null")):
            if required:
                self.error("is required (a list)", key)
            return _empty_list(self.node if node is None else node, keypath, self.problems)
        if not isinstance(node, yaml.SequenceNode):
            self.error(f"expected a list, got {_type_name(node)}", key, node)
            return _empty_list(node, keypath, self.problems)
        return ListReader(node, keypath, self.problems)

    def finish(self) -> None:
        """Report every key that no reader asked for, with a "did you mean" hint."""
        known = sorted(self._used)
        for key, (key_node, _value) in self._items.items():
            if key not in self._used:
                self.problems.add(
                    _line(key_node),
                    _join(self.keypath, key),
                    f"unknown key{did_you_mean(key, known)}",
                )


class ListReader(_Reader):
    """Iterates the items of a YAML list, each as a reader of its own."""

    def __init__(self, node: yaml.SequenceNode, keypath: str, problems: Problems) -> None:
        super().__init__(node, keypath, problems)

    def __len__(self) -> int:
        return len(self.node.value)

    def maps(self) -> Iterator[MapReader]:
        """Each item that is a mapping; other items are reported."""
        for index, item in enumerate(self.node.value):
            if isinstance(item, yaml.MappingNode):
                yield MapReader(item, _join(self.keypath, index), self.problems)
            else:
                self.error(f"expected a mapping, got {_type_name(item)}", index, item)

    def strings(self) -> Iterator[tuple[int, str]]:
        """Each ``(line, value)`` of a list of strings; other items are reported."""
        for index, item in enumerate(self.node.value):
            try:
                value = scalar_value(item) if isinstance(item, yaml.ScalarNode) else None
            except ValueError:
                value = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value and (problem := _text_problem(value)):
                self.error(problem, index, item)
            elif isinstance(value, str) and value:
                yield _line(item), value
            else:
                self.error(f"expected a string, got {_type_name(item)}", index, item)


def _empty_map(at: yaml.Node, keypath: str, problems: Problems) -> MapReader:
    node = yaml.MappingNode(f"{_CORE}map", [])
    node.start_mark = at.start_mark
    return MapReader(node, keypath, problems, present=False)


def _empty_list(at: yaml.Node, keypath: str, problems: Problems) -> ListReader:
    node = yaml.SequenceNode(f"{_CORE}seq", [])
    node.start_mark = at.start_mark
    return ListReader(node, keypath, problems)


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
