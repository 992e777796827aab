"""Talking to systemd: readiness and status notifications, the watchdog, and journald logging.

Everything here is silent and harmless when the daemon is not run by systemd: without
``$NOTIFY_SOCKET`` the :class:`Notifier` sends nothing, and without ``$JOURNAL_STREAM``
logging goes to the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import TextIO

from party_button.names import printable

try:
    from systemd import daemon as sd_daemon
    from systemd import journal as sd_journal
except ImportError:  # systemd-python is a Linux-only dependency
    sd_daemon = None
    sd_journal = None

log = logging.getLogger(__name__)

SYSLOG_IDENTIFIER = "party-button"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def watchdog_period(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between two ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or ``None``.

    systemd sets ``$WATCHDOG_PID`` to the process it watches; a child that inherited the
    variables must not ping in its parent's name.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    watched = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if watched and (not watched.isdigit() or int(watched) != pid):
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    """Sends ``sd_notify`` messages and keeps the watchdog's rhythm.

    The main loop asks :meth:`watchdog_deadline` when the next ping is due, sleeps at most
    until then, and calls :meth:`watchdog` on every turn; a hung loop stops the pings,
    and systemd restarts the service.
    """

    def __init__(self) -> None:
        listening = sd_daemon is not None and bool(os.environ.get("NOTIFY_SOCKET"))
        self._send: Callable[[str], object] | None = sd_daemon.notify if listening else None
        self.period = watchdog_period(os.environ, os.getpid()) if listening else None
        self._next_ping: float | None = None
        self._status = ""

    @property
    def enabled(self) -> bool:
        """Whether a supervisor listens."""
        return self._send is not None

    def notify(self, *fields: str) -> None:
        """Send ``fields`` (``KEY=value`` each) in one message; failures are only logged."""
        if self._send is None:
            return
        message = "\n".join(fields)
        try:
            self._send(message)
        except OSError as exc:  # a supervisor that went away must not stop the party
            log.debug("sd_notify %r failed: %s", message, exc)

    def ready(self, status: str) -> None:
        """Start-up (or a reload) is complete."""
        self._status = status
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        """A configuration reload has begun."""
        self.notify("RELOADING=1", "STATUS=reloading the configuration")

    def stopping(self) -> None:
        """Shutdown has begun."""
        self.notify("STOPPING=1", "STATUS=stopping: relays off, music off")

    def status(self, text: str) -> None:
        """Tell systemd what is going on (``systemctl status`` shows it); repeats are skipped."""
        if text != self._status:
            self._status = text
            self.notify(f"STATUS={text}")

    def watchdog_deadline(self, now: float) -> float | None:
        """When the next ``WATCHDOG=1`` is due, or ``None`` without a watchdog."""
        if self.period is None:
            return None
        if self._next_ping is None:
            self._next_ping = now
        return self._next_ping

    def watchdog(self, now: float) -> None:
        """Ping the watchdog if a ping is due at ``now``."""
        deadline = self.watchdog_deadline(now)
        if deadline is not None and now >= deadline:
            self.notify("WATCHDOG=1")
            assert self.period is not None
            self._next_ping = now + self.period


def journal_stream_matches(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd connected (``$JOURNAL_STREAM``)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class PrintableFormatter(logging.Formatter):
    """Log lines that are UTF-8 whatever bytes a file name held: journald refuses the
    surrogate escapes that Python gives names that are not UTF-8; they become ``\\xNN``."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def setup_logging(
    level: int, *, environ: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> None:
    """Log to journald with structured fields under systemd, else to ``stream`` (stderr).

    Fields such as ``SONG=``, ``RELAY=``, ``EVENT=`` and ``PHASE=`` come from ``extra=`` on
    the log calls: ``journalctl -u party-button EVENT=press`` lists every press. Outside
    systemd this is :func:`logging.basicConfig`, which leaves a logging setup already in
    place (a test runner's) alone.
    """
    environ = os.environ if environ is None else environ
    stream = sys.stderr if stream is None else stream
    if sd_journal is not None and journal_stream_matches(environ, stream):
        handler = sd_journal.JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)
        handler.setFormatter(PrintableFormatter("%(message)s"))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream)
