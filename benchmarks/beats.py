"""Beat analysis: peak resident memory and seconds per song length, mono and stereo.

Run from the repository root: ``python -m benchmarks.beats [--json] [--repeat N]``. For each
length (1, 4, 10 and 20 minutes) and channel count it generates a song of known tempo
(:func:`party_button.testing.write_beat_song`, FLAC at 44.1 kHz unless ``--format`` and
``--rate`` say otherwise) and analyses it as the beats unit does: one
``python -m party_button.beats.worker`` process answering one request. It reports that
process's peak resident memory (``ru_maxrss``) and wall-clock seconds (medians over
``--repeat`` runs), the tempo found, and, as the floor under every song, a process that only
imports the analysis. It prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from party_button.testing.beats import write_beat_song

MINUTES = (1, 4, 10, 20)
CHANNELS = (1, 2)
TEMPO_BPM = 124.0
TARGETS = {"peak_rss_mb": 300.0}
"""Issue 24: at most 300 MB for any song the analysis accepts (up to 20 minutes)."""


def run_measured(command: list[str], request: str = "") -> tuple[float, float, str]:
    """Run ``command`` with ``request`` on stdin: its peak RSS in MB, seconds, and stdout."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request)
    process.stdin.close()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    errors = process.stderr.read() if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {errors}")
    return usage.ru_maxrss / 1024, seconds, output


def analyse(song: Path) -> tuple[float, float, float]:
    """Analyse ``song`` as the beats unit does: peak RSS in MB, seconds, tempo found."""
    command = [sys.executable, "-m", "party_button.beats.worker"]
    peak, seconds, output = run_measured(command, f"{song}\t4\n")
    answer = json.loads(output)
    if "error" in answer:
        raise RuntimeError(f"{song}: {answer['error']}")
    return peak, seconds, float(answer["tempo_bpm"])


def measure(repeat: int, suffix: str, rate: int) -> dict[str, Any]:
    imports = [
        run_measured([sys.executable, "-c", "import party_button.beats.analysis"])[0]
        for _ in range(repeat)
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="party-button-beats-") as folder:
        for minutes in MINUTES:
            for channels in CHANNELS:
                song = Path(folder) / f"{minutes}min-{channels}ch.{suffix}"
                write_beat_song(song, minutes * 60.0, TEMPO_BPM, channels, rate)
                runs = [analyse(song) for _ in range(repeat)]
                song.unlink()
                rows.append(
                    {
                        "minutes": minutes,
                        "channels": channels,
                        "peak_rss_mb": statistics.median(r[0] for r in runs),
                        "seconds": statistics.median(r[1] for r in runs),
                        "tempo_bpm": runs[0][2],
                    }
                )
    return {
        "format": suffix,
        "sample_rate": rate,
        "tempo_bpm": TEMPO_BPM,
        "repeat": repeat,
        "imports_rss_mb": statistics.median(imports),
        "songs": rows,
        "targets": TARGETS,
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"beat analysis of generated {result['format']} songs at {result['sample_rate']} Hz, "
        f"{result['tempo_bpm']:g} BPM (medians of {result['repeat']} runs)"
    )
    print(f"importing the analysis alone: {result['imports_rss_mb']:.0f} MB")
    print(f"{'minutes':>8} {'channels':>9} {'peak RSS MB':>12} {'seconds':>8} {'tempo':>8}")
    for row in result["songs"]:
        print(
            f"{row['minutes']:>8} {row['channels']:>9} {row['peak_rss_mb']:>12.0f} "
            f"{row['seconds']:>8.1f} {row['tempo_bpm']:>8.2f}"
        )
    worst = max(row["peak_rss_mb"] for row in result["songs"])
    print(f"target: peak RSS <= {TARGETS['peak_rss_mb']:.0f} MB for every song (worst {worst:.0f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="runs per song (default 3)")
    parser.add_argument("--format", default="flac", choices=["flac", "wav", "ogg", "mp3"])
    parser.add_argument("--rate", type=int, default=44100, help="sample rate in Hz")
    args = parser.parse_args(argv)
    result = measure(args.repeat, args.format, args.rate)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
