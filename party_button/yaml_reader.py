"""Typed reading of YAML documents that remembers where every value came from.

A schema is written as ordinary code over :class:`MapReader` and :class:`ListReader`.
Every problem found is collected in a shared :class:`Problems` list as
``FILE:LINE: key.path: message`` instead of raised, so a user sees all of them at once.

Example::

    problems = Problems(path)
    root = MapReader.load(path, problems)
    hold = root.map("button").number("hold_time", default=2.0, minimum=0.1)
    root.finish()
    problems.raise_if_any()
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from party_button.errors import ConfigError

_MISSING: Any = object()


class Problems:
    """Collects ``FILE:LINE: key: message`` lines for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._found: list[tuple[int, str]] = []

    @property
    def lines(self) -> list[str]:
        """Every problem so far, ordered by line."""
        return [text for _line_no, text in sorted(self._found, key=lambda item: item[0])]

    def add(self, line: int, key: str, message: str) -> None:
        """Record one problem at a 1-based ``line`` for ``key``."""
        where = f"{self.path}:{line}"
        self._found.append((line, f"{where}: {key}: {message}" if key else f"{where}: {message}"))

    def raise_if_any(self) -> None:
        """Raise :class:`ConfigError` with every problem collected so far."""
        if self._found:
            raise ConfigError(self.lines)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _type_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = yaml.safe_load(yaml.serialize(node))
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


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

    def __init__(self, node: yaml.MappingNode, keypath: str, problems: Problems) -> None:
        super().__init__(node, keypath, problems)
        self._items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        self._used: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in self._items:
                problems.add(_line(key_node), _join(keypath, key), "key is given twice")
            self._items[key] = (key_node, value_node)

    @classmethod
    def load(cls, path: Path, problems: Problems) -> MapReader:
        """Parse ``path``; an unreadable or malformed file becomes a problem and an empty map."""
        empty = yaml.MappingNode("tag:yaml.org,2002:map", [])
        empty.start_mark = yaml.Mark(str(path), 0, 0, 0, None, None)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.add(1, "", f"cannot read the file: {reason}")
            return cls(empty, "", problems)
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problems.add(line, "", f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
            return cls(empty, "", problems)
        if node is None:
            return cls(empty, "", problems)
        if not isinstance(node, yaml.MappingNode):
            problems.add(_line(node), "", f"expected a mapping at the top, got {_type_name(node)}")
            return cls(empty, "", problems)
        return cls(node, "", problems)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def error(
        self, message: str, key: str | int | None = None, node: yaml.Node | None = None
    ) -> None:
        """Record a problem about this mapping, or about ``key`` at the key's own line."""
        if node is None and isinstance(key, str) and key in self._items:
            node = self._items[key][0]
        super().error(message, key, node)

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
        return node, yaml.safe_load(yaml.serialize(node))

    def raw(self, key: str, default: Any = None) -> Any:
        """The plain Python value of ``key`` with no checking."""
        node = self._take(key)
        return default if node is None else yaml.safe_load(yaml.serialize(node))

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
        if not value and not allow_empty:
            self.error("must not be empty", key, node)
            return None if default is _MISSING else default
        if choices is not None and value not in choices:
            self.error(
                f"expected one of {', '.join(choices)}, got {value!r}{_hint(value, choices)}",
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
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
        optional: bool = False,
    ) -> Any:
        """An int or float within ``[minimum, maximum]``; ``optional`` accepts ``null``."""
        node, value = self._scalar(key)
        if node is None:
            return self._missing(key, default, "a number")
        if value is None and optional:
            return None
        wanted = "an integer" if integer else "a number"
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            self.error(f"expected {wanted}, got {_type_name(node)}", key, node)
            return None if default is _MISSING else default
        if minimum is not None and value < minimum:
            self.error(f"must be at least {minimum:g}, got {value:g}", key, node)
            return None if default is _MISSING else default
        if maximum is not None and value > maximum:
            self.error(f"must be at most {maximum:g}, got {value:g}", key, node)
            return None if default is _MISSING else default
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
                    _line(key_node), _join(self.keypath, key), f"unknown key{_hint(key, known)}"
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
            value = (
                yaml.safe_load(yaml.serialize(item)) if isinstance(item, yaml.ScalarNode) else None
            )
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value:
                yield _line(item), value
            else:
                self.error(f"expected a string, got {_type_name(item)}", index, item)


def _empty_map(at: yaml.Node, keypath: str, problems: Problems) -> MapReader:
    node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    node.start_mark = at.start_mark
    return MapReader(node, keypath, problems)


def _empty_list(at: yaml.Node, keypath: str, problems: Problems) -> ListReader:
    node = yaml.SequenceNode("tag:yaml.org,2002:seq", [])
    node.start_mark = at.start_mark
    return ListReader(node, keypath, problems)


def _hint(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
