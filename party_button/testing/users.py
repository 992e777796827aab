"""Running a piece of a test as another user, in a forked child (needs root)."""

from __future__ import annotations

import os
from collections.abc import Callable


def run_as(uid: int, gid: int, groups: list[int], action: Callable[[], str]) -> str:
    """What ``action()`` returns when run by ``uid`` with ``gid`` and ``groups``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the given identity, then act
        os.close(read_end)
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            os.write(write_end, action().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    return result
