"""Light shows: patterns of the playback position, shows, relay guards and the runner."""
