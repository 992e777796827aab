"""The effective configuration: every setting after defaults, as plain data, secrets masked.

``party-button config`` prints it as YAML. Paths are absolute, the web page's address is
``HOST:PORT``, and a light show's steps name the pattern that runs them (``strobe`` is a
``blink`` with a short duty). The PIN and the token of the web page are shown as
:data:`MASK`; the MQTT password is never in the config (only the path of its file is).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from party_button.config.lights import SHOW_FOR_KEYS
from party_button.config.schema import Config
from party_button.lights import patterns

MASK = "********"
# The settings whose values are secrets: (section, key).
SECRETS = (("web", "pin"), ("web", "token"))
# Fields of Config that are not settings: where it was read from, and a copy of the relays.
_NOT_SETTINGS = {"path"}
_COPIES = {"relays"}  # LightsConfig holds the relays' limits again


def effective(config: Config) -> dict[str, Any]:
    """``config`` as plain YAML-ready data, in the order of the config file."""
    plain = {
        item.name: _plain(getattr(config, item.name))
        for item in dataclasses.fields(config)
        if item.name not in _NOT_SETTINGS
    }
    lights = plain.pop("lights")
    plain.update({key: value for key, value in lights.items() if key not in _COPIES})
    plain["show_for"] = {key: config.lights.show_for[phase] for key, phase in SHOW_FOR_KEYS.items()}
    for section, key in SECRETS:
        if plain[section].get(key) is not None:
            plain[section][key] = MASK
    return plain


def _plain(value: Any) -> Any:
    """One value as YAML's plain types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)
        }
        if type(value).__module__ == patterns.__name__:
            return {"pattern": type(value).__name__.lower(), **fields}
        return fields
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return [_plain(item) for item in value]
    if isinstance(value, Path | tuple):  # a path, or a named tuple such as web.listen
        return str(value)
    return value
