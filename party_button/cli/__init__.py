"""The ``party-button`` command: one module per command group."""
