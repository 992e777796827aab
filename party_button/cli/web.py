"""``party-button web``: the web page and HTTP API, run by hand or by its unit."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import signal
import stat
from pathlib import Path

from party_button.cli.common import EXIT_FAILED, EXIT_OK, add_command, add_is_enabled, say_enabled
from party_button.config.location import find_config
from party_button.config.web import load_web_config, parse_listen
from party_button.control.protocol import client_socket_path
from party_button.errors import ConfigError
from party_button.systemd import Notifier

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``web`` to the main command."""
    text = "serve the web page and HTTP API (needs the web extra)"
    warning = "needs web.pin or web.token; the service runs only with web.enabled: true"
    example = "--listen 127.0.0.1:8080"
    parser = add_command(
        subparsers, "web", run, text, example=example, socket=True, warning=warning
    )
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="address to serve on (default: web.listen)"
    )
    add_is_enabled(parser, "web")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; 1 when the config or the address is not usable."""
    path = find_config(args.config)
    if args.is_enabled:
        return say_enabled(path, "web", load_web_config(path).enabled)
    from party_button.web.page_config import load_page_config

    # The whole config is checked as the daemon checks it, in a child: the schema and
    # gpiozero stay out of this long-lived process.
    config = load_page_config(path)
    settings = config.web
    if args.listen:
        try:
            listen = parse_listen(args.listen)
        except ValueError as exc:
            raise ConfigError([f"--listen {args.listen}: {exc}"]) from None
        settings = dataclasses.replace(settings, listen=listen)
    if settings.pin is None and settings.token is None:
        raise ConfigError([f"{config.path}: web: set web.pin or web.token: nobody could log in"])
    if problem := settings.example_pin_problem():
        raise ConfigError([f"{config.path}: web.pin: {problem}"])
    _warn_if_readable(config.path)
    config = dataclasses.replace(config, web=settings)
    try:
        from party_button.web.app import serve
        from party_button.web.daemon_link import DaemonLink
    except ImportError as exc:
        raise ConfigError([f"the web extra is not installed ({exc.name} is missing)"]) from None
    link = DaemonLink(Path(args.socket) if args.socket else client_socket_path())
    import asyncio  # here: every other command, the daemon's among them, does without it

    return asyncio.run(_main(config, link, serve))


async def _main(config, link, serve) -> int:
    import asyncio

    notifier = Notifier()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)

    def ready(url: str) -> None:
        # What start-up made (aiohttp, the app) lives on: full collections skip it. Without
        # this a full collection took 25-30 ms on a busy Pi-class machine, stalling presses
        # and the live stream.
        gc.freeze()
        log.info("serving %s for the daemon on %s", url, link.socket_path)
        notifier.ready(f"serving {url}")

    server = asyncio.create_task(serve(config, link, ready))
    waiter = asyncio.create_task(stopped.wait())
    await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
    notifier.stopping()
    server.cancel()
    try:
        await server
    except asyncio.CancelledError:
        pass
    except OSError as exc:
        log.error("cannot serve on %s: %s", config.web.listen, exc.strerror or exc)
        return EXIT_FAILED
    finally:
        waiter.cancel()
    return EXIT_OK


def _warn_if_readable(path: Path) -> None:
    """Warn when the config (which holds the PIN or token) is readable by every user."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & stat.S_IROTH:
        log.warning(
            "%s holds the web PIN or token and every user may read it: chmod o-r %s",
            path,
            path,
        )
