"""Beat helpers for tests: the demo songs with their known grids, and how long to wait."""

from __future__ import annotations

import json
from pathlib import Path

# The demo songs of the checkout (songs/) and what their generator wrote down about them.
SONGS_DIR = Path(__file__).resolve().parents[2] / "songs"
TRUTH = json.loads((SONGS_DIR / "demo-songs.json").read_text())["songs"]
SHORTEST = min(TRUTH, key=lambda s: s["duration_s"])["file"]
# A deadline for an analysis that hangs, not a time it should take: the worker's child runs
# at nice 10, and on a busy machine one song can take minutes.
ANALYSIS_TIMEOUT = 600.0
