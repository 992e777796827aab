"""party-button: one press of the big red button throws the lights and starts a random song."""

import os

__version__ = "0.1.0"

# pygame greets on import; the daemon's log and the CLI's output are no place for it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
