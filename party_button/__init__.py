"""party-button: one press of the big red button throws the lights and starts a random song."""

__version__ = "0.1.0"
