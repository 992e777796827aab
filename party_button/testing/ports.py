"""Free TCP ports for the servers that tests and benchmarks start on loopback.

A port the kernel hands out for ``bind(0)`` comes from its ephemeral range, the same range
every outgoing connection takes its local port from; between the probe closing and the
server binding, any connection (a test's client, a broker's) may take it, and the server
fails with "address already in use". :func:`free_port` therefore picks outside that range,
where only a server that asks for the port by number can land, and never hands out the same
port twice in one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Below this, other software on a workstation listens by habit (Ray's workers take 10002 up).
LOWEST = 20000
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def ephemeral_range() -> range:
    """The kernel's ephemeral ports (Linux's default where unknown)."""
    try:
        first, last = (int(word) for word in PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        first, last = 32768, 60999
    return range(first, last + 1)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on now, outside the ephemeral range."""
    ephemeral = ephemeral_range()
    candidates = [
        port for port in range(LOWEST, 65536) if port not in ephemeral and port not in _handed_out
    ]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port on {host} from {LOWEST} outside {ephemeral}")
