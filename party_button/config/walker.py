"""One walker that reads a config section into its dataclass.

Each field of a config dataclass says how it is read with :func:`setting`: its default (the
one place it is written), its bounds or choices, or a reader of its own for what plain
types cannot say (a pin, a path, a list). :func:`read_into` reads every such field from a
:class:`~party_button.config.yaml_reader.MapReader`, reports unknown keys, and builds the
dataclass; problems go to the reader's shared list as ``FILE:LINE: key: message``, so a
section with mistakes still gives an object (with a stand-in for each wrong value).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from party_button.config.yaml_reader import MapReader, Problems

T = TypeVar("T")
_ABSENT: Any = object()
# A reader of its own: (section, key, default, context, values read so far) -> the value.
Reader = Callable[[MapReader, str, Any, Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Rule:
    """How one setting is read and checked."""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    optional: bool = False  # YAML null is accepted (as None)
    choices: tuple[str, ...] | None = None
    allow_empty: bool = False
    read: Reader | None = None
    stand_in: Any = None  # the value of a required setting that is wrong or missing
    doc: str = ""  # what the setting does, for people: the configuration reference shows it


def setting(default: Any = MISSING, **rule: Any) -> Any:
    """A dataclass field read from the config file by :func:`read_into` (see :class:`Rule`);
    ``doc=`` says what it does, once, beside its default."""
    return field(default=default, metadata={"rule": Rule(**rule)})


def read_into(cls: type[T], section: MapReader, context: Any = None) -> T:
    """Read every :func:`setting` of ``cls`` from ``section``; report unknown keys."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        rule = item.metadata.get("rule")
        if rule is None:
            continue
        default = _ABSENT if item.default is MISSING else item.default
        value = _read(section, item.name, hints[item.name], default, rule, context, values)
        values[item.name] = rule.stand_in if value is None and default is _ABSENT else value
    section.finish()
    return cls(**values)


def load_section(path: Path, key: str, read: Callable[[MapReader], T]) -> T:
    """Only the section ``key`` of the config file ``path``, read by ``read`` (for an adapter,
    which has no business with pins or songs).

    Raises :class:`~party_button.errors.ConfigError` with the ``FILE:LINE`` problems of the
    section and of the file as a whole (unreadable, not YAML, beyond its limits).
    """
    problems = Problems(path)
    value = read(MapReader.load(path, problems).map(key))
    problems.raise_if_any()
    return value


def _read(
    section: MapReader,
    key: str,
    hint: Any,
    default: Any,
    rule: Rule,
    context: Any,
    values: dict[str, Any],
) -> Any:
    """One value of ``section``, read as ``rule`` and the field's type say."""
    if rule.read is not None:
        return rule.read(section, key, None if default is _ABSENT else default, context, values)
    kind = _plain_type(hint)
    wanted: dict[str, Any] = {} if default is _ABSENT else {"default": default}
    if kind is bool:
        return section.boolean(key, **wanted)
    if kind in (int, float):
        assert rule.minimum is not None and rule.maximum is not None, key
        return section.number(
            key,
            **wanted,
            minimum=rule.minimum,
            maximum=rule.maximum,
            integer=rule.integer,
            optional=rule.optional,
        )
    return section.string(key, **wanted, choices=rule.choices, allow_empty=rule.allow_empty)


def _plain_type(hint: Any) -> Any:
    """``int`` for ``int``, ``float | None`` gives ``float``: the type without ``None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else hint
    return hint
