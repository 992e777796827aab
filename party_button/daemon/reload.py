"""Reloading the configuration: judging the new file, and what differs from the old one.

An invalid file is reported line by line, like ``check-config``, and the daemon keeps the
configuration it has. A valid one waits in :attr:`Reloader.pending` until the daemon is
idle; then only what changed is set up anew (the pins always are).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from party_button.config.schema import Config, load_config
from party_button.daemon.events import ReloadRequest
from party_button.errors import ConfigError, HardwareError
from party_button.phase import Phase

if TYPE_CHECKING:
    from party_button.daemon.daemon import Daemon

log = logging.getLogger(__name__)

# How many problems of a refused reload go to the log and the answer (check-config has all).
RELOAD_PROBLEMS_SHOWN = 20


class Reloader:
    """A validated config waiting to be applied, and why the last reload failed, if it did."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.pending: Config | None = None
        self.error: str | None = None

    def request(self, event: ReloadRequest) -> dict[str, Any]:
        """Reload on ``SIGHUP`` or ``reload``; watchers hear how it went and who asked."""
        answer = self.reload()
        peer_source = self.daemon.dispatch.source_of(event.peer)
        source = {"source": "signal"} if event.by_signal else peer_source
        problems = len(answer.get("errors", []))
        self.daemon.board.announce("reload", ok=answer["ok"], problems=problems, **source)
        return answer

    def reload(self) -> dict[str, Any]:
        """Re-read the config file; apply it now when idle, else once the party is over.

        systemd gets ``RELOADING=1`` and then ``READY=1`` as soon as the file is judged, so a
        reload never waits for a party to end.
        """
        daemon = self.daemon
        daemon.notifier.reloading()
        answer = self._read(daemon.config.path)
        if answer["ok"]:
            if daemon.machine.phase is Phase.IDLE:
                self.apply_pending()
            else:
                log.info("%s is valid; it applies when the party is over", daemon.config.path)
            answer = {"ok": self.error is None, "applied": self.pending is None}
            if self.error is not None:
                answer["error"] = self.error
        daemon.notifier.ready(daemon.board.text())
        return answer

    def _read(self, path: Path) -> dict[str, Any]:
        """Read and validate ``path``: ``{"ok": True}`` with it pending, or its problems."""
        log.info("reloading %s", path, extra={"EVENT": "reload"})
        try:
            self.pending = load_config(path)
        except ConfigError as exc:
            shown = exc.problems[:RELOAD_PROBLEMS_SHOWN]
            if len(exc.problems) > len(shown):
                more = len(exc.problems) - len(shown)
                shown.append(f"... and {more} more (party-button check-config {path})")
            for problem in shown:
                log.error("%s", problem)
            self.error = f"{len(exc.problems)} problem(s) in {path}"
            log.error(
                "reload refused (%s): still running on the previous configuration", self.error
            )
            return {"ok": False, "errors": shown}
        self.error = None
        return {"ok": True}

    def apply_pending(self) -> None:
        """Switch to the validated new config: relays off, pins released and claimed again."""
        daemon = self.daemon
        config, previous, self.pending = self.pending, daemon.config, None
        assert config is not None
        self._release(previous, config)
        daemon.configure(config)
        try:
            daemon.claim_pins()
        except HardwareError as exc:
            self.error = str(exc)
            log.error("new configuration not applied: %s; back to the previous one", exc)
            self._release(config, previous)
            daemon.configure(previous)
            daemon.claim_pins()  # if even the old pins are gone, systemd restarts the daemon
        daemon.library.start()  # a new one, when the library's settings changed
        daemon.conductor.check_clips()
        daemon.open_audio()
        if self.error is None:
            log.info("configuration %s applied: %d songs", config.path, len(daemon.library))

    def _release(self, old: Config, new: Config) -> None:
        """Let go of what ``new`` sets up differently from ``old``; always the pins."""
        daemon = self.daemon
        if daemon.hardware is not None:
            daemon.hardware.close()  # relays off first
            daemon.hardware = None
        if new.gpio != old.gpio and daemon.owns_factory and daemon.factory is not None:
            daemon.factory.close()
            daemon.factory = None
        if new.audio != old.audio or new.clips != old.clips:
            daemon.conductor.close()
            daemon.conductor.build_player(new)


def library_changed(old: Config, new: Config) -> bool:
    """Whether the songs library must be made anew (it is kept, with what it scanned, else)."""
    return _library_settings(old) != _library_settings(new)


def _library_settings(config: Config) -> tuple[object, ...]:
    """What the songs library depends on in ``config``."""
    clips = config.clips
    return (config.songs, config.effect_sounds, clips.enabled, clips.extensions, clips.chance)
