"""The daemon: its loop, the party state machine, and the collaborators the loop wires."""
