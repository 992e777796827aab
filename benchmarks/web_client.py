"""A browser's side of ``benchmarks.web``, as a process of its own.

``python -m benchmarks.web_client URL TOKEN`` follows ``GET /api/events`` and prints ``event T
JSON`` for each message; for each ``press`` line on its input it posts ``/api/press`` and
prints ``sent T STATUS`` (the answer's status; a connection the service closed while idle is
opened again, as a browser does). T is ``time.monotonic()`` (``CLOCK_MONOTONIC``, one clock for
every process of the machine), read here, so that the benchmark's readings never wait for the
interpreter lock of the benchmark's process, where the daemon under test runs.
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
from urllib.parse import urlsplit

_printing = threading.Lock()


def say(line: str) -> None:
    with _printing:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def follow(host: str, port: int, headers: dict[str, str]) -> None:
    """Print each message of the live stream with the moment it arrived."""
    connection = http.client.HTTPConnection(host, port, timeout=120)
    connection.request("GET", "/api/events", headers=headers)
    for line in connection.getresponse():
        if line.startswith(b"data: "):
            at = time.monotonic()
            say(f"event {at!r} {line[6:].decode().strip()}")


def main() -> int:
    url, token = sys.argv[1:3]
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = {"Authorization": f"Bearer {token}"}
    threading.Thread(target=follow, args=(host, port, headers), daemon=True).start()
    presser = http.client.HTTPConnection(host, port, timeout=30)
    for command in sys.stdin:
        if command.strip() == "press":
            at = time.monotonic()
            try:
                presser.request("POST", "/api/press", headers=headers)
                response = presser.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError):
                presser.close()  # closed while idle: a browser opens another
                presser.request("POST", "/api/press", headers=headers)
                response = presser.getresponse()
            response.read()
            say(f"sent {at!r} {response.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
