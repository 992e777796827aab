"""Where the configuration is: the file a command names, the system's, or the shipped one.

Light on purpose (no schema, no pins): every service finds its file here, and the adapters
read only their own sections of it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def _shipped_config() -> Path:
    """The shipped config: the copy a wheel carries (see setup.py), or the checkout's own."""
    packaged = Path(str(resources.files("party_button.config") / "config.yaml"))
    return packaged if packaged.is_file() else Path(__file__).parents[2] / "config" / "config.yaml"


SHIPPED_CONFIG = _shipped_config()
SYSTEM_CONFIG = Path("/etc/party-button/config.yaml")
CONFIG_ENV = "PARTY_BUTTON_CONFIG"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: ``explicit``, ``$PARTY_BUTTON_CONFIG``, /etc, then the shipped one."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return SHIPPED_CONFIG
