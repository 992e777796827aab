"""Several rooms as one party: the sync service (an adapter) and its Snapcast pieces."""
