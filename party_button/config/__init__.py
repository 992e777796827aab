"""The configuration: its dataclasses, the line-remembering YAML reader and the shipped file."""
