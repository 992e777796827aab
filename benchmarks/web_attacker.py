"""A hostile guest's side of ``benchmarks.web --attack``, as a process of its own.

``python -m benchmarks.web_attacker URL IDLE LOGINS`` holds ``IDLE`` idle connections (from
the loopback addresses 127.0.1.1 to 127.0.1.20, as twenty hosts would, opening again each
one the service closes) and ``LOGINS`` logins with a wrong PIN in flight at all times (from
127.0.2.1 to 127.0.2.50). Once a second it prints ``held N refused R logins L answered A``:
connections open now, connections refused so far, wrong logins sent and answered.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from urllib.parse import urlsplit

IDLE_SOURCES = 20
_counts = {"held": 0, "refused": 0, "logins": 0, "answered": 0}


async def idle(host: str, port: int, source: str) -> None:
    """One idle connection, held for as long as the service keeps it, then again."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(0.1)
            continue
        _counts["held"] += 1
        try:
            answer = await reader.read(1024)  # nothing comes until the service closes it
            if answer.startswith(b"HTTP/1.1 503"):
                _counts["refused"] += 1
        except OSError:
            pass
        finally:
            _counts["held"] -= 1
            writer.close()
        await asyncio.sleep(0.05)


async def wrong_logins(host: str, port: int, source: str, url: str) -> None:
    """Wrong PINs, one after the other, each on a connection of its own."""
    body = json.dumps({"pin": "000000"}).encode()
    head = (
        f"POST /api/login HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nOrigin: {url}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
            writer.write(head + body)
            _counts["logins"] += 1
            await reader.read()
            _counts["answered"] += 1
            writer.close()
        except OSError:
            await asyncio.sleep(0.1)


async def report() -> None:
    while True:
        await asyncio.sleep(1.0)
        counts = " ".join(f"{key} {value}" for key, value in _counts.items())
        sys.stdout.write(counts + "\n")
        sys.stdout.flush()


async def main(url: str, idle_count: int, logins: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tasks = [
        asyncio.create_task(idle(host, port, f"127.0.1.{1 + number % IDLE_SOURCES}"))
        for number in range(idle_count)
    ]
    tasks += [
        asyncio.create_task(wrong_logins(host, port, f"127.0.2.{1 + number}", url))
        for number in range(logins)
    ]
    tasks.append(asyncio.create_task(report()))
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
