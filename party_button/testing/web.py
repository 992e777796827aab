"""``party-button web`` in a process of its own, for tests and benchmarks.

The service runs as its unit runs it (``python -m party_button web``) and talks to the
daemon through the control socket only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from party_button.testing import wait_for

SERVING = re.compile(r"serving (http://\S+) ")


@dataclass
class WebService:
    """A running ``party-button web``: its address, process and log."""

    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_web(config_path: Path, socket: Path, log: Path) -> WebService:
    """Start ``party-button web`` on a free loopback port and wait until it serves."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    out = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "party_button",
            "web",
            "--listen",
            "127.0.0.1:0",
            "--config",
            str(config_path),
            "--socket",
            str(socket),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    found: list[str] = []

    def serving() -> bool:
        match = SERVING.search(log.read_text(errors="replace"))
        if match:
            found.append(match.group(1))
        return bool(match) or process.poll() is not None

    wait_for(serving, timeout=30)
    assert found, f"the web service did not start: {log.read_text(errors='replace')}"
    return WebService(found[0], process, log)


def refused_web(config_path: Path, listen: str) -> subprocess.CompletedProcess[str]:
    """``party-button web`` on ``config_path`` and ``listen`` that is expected to refuse to
    start: its exit and output, once it has ended."""
    command = [sys.executable, "-m", "party_button", "web", "--listen", listen]
    return subprocess.run(
        [*command, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stop_web(service: WebService) -> None:
    """Stop the service as systemd does (SIGTERM); it must end at once and cleanly."""
    service.process.terminate()
    try:
        code = service.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()
        raise AssertionError(f"the web service ignored SIGTERM: {service.log_text()}") from None
    assert code == 0, service.log_text()
