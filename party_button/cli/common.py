"""What every command shares: its parser, its config, and the one place errors become exit codes.

A command module has ``register(subparsers)``, which adds its subcommands (through
:func:`add_command`), and ``run(args) -> int``. :func:`call` runs it: every
:class:`~party_button.errors.PartyButtonError` it raises becomes one line on stderr and
exit code 1, an interruption exit code 130; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from party_button.config.location import find_config
from party_button.errors import ConfigError, PartyButtonError

if TYPE_CHECKING:
    from party_button.config.schema import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
Run = Callable[[argparse.Namespace], int]

# What a command's help says about where its config and the daemon's socket come from.
CONFIG_ORDER = (
    "config: --config PATH, else $PARTY_BUTTON_CONFIG, else /etc/party-button/config.yaml,\n"
    "  else the example config shipped with party-button"
)
SOCKET_ORDER = (
    "socket: --socket PATH, else $PARTY_BUTTON_SOCKET, else the service's\n"
    "  /run/party-button/control.sock, else $XDG_RUNTIME_DIR/party-button/control.sock"
)
EXIT_CODES = "exit codes: 0 ok, 1 bad input, bad config or failed, 2 usage, 130 interrupted"


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    run: Run,
    help_text: str,
    *,
    example: str,
    config: bool = True,
    socket: bool = False,
    warning: str | None = None,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, run by ``run``, whose help stands alone: ``example`` (the
    arguments after ``party-button NAME``), ``warning`` (what it switches, what it needs), and
    where its config (with ``config``, its ``--config`` option) and socket come from.

    ``socket`` adds the ``--socket`` option: the daemon's control socket.
    """
    epilog = [f"example:\n  party-button {name} {example}".rstrip()]
    if warning:
        epilog.insert(0, textwrap.fill(f"warning: {warning}", 78, subsequent_indent="  "))
    if config:
        epilog.append(CONFIG_ORDER)
    if socket:
        epilog.append(SOCKET_ORDER)
    epilog.append(EXIT_CODES)
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="\n\n".join(epilog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if config:
        parser.add_argument("--config", metavar="PATH", help="config file to use")
    if socket:
        parser.add_argument("--socket", metavar="PATH", help="the daemon's control socket")
    add_verbose(parser)
    parser.set_defaults(run=run)
    return parser


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v``: debug messages. On a subcommand it only ever sets it (the main one's stays)."""
    default = False if parser.prog == "party-button" else argparse.SUPPRESS
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log debug messages"
    )


def add_is_enabled(parser: argparse.ArgumentParser, section: str) -> None:
    """An adapter's ``--is-enabled`` option (answered by :func:`say_enabled`)."""
    parser.add_argument(
        "--is-enabled",
        action="store_true",
        help=f"check the {section} section, print whether {section}.enabled is true, and exit",
    )


def say_enabled(path: Path, section: str, enabled: bool) -> int:
    """The answer to ``--is-enabled``: ``PATH: SECTION is enabled`` (or ``is not enabled``),
    exit code 0 either way; a wrong section has raised a config error (exit code 1) before."""
    print(f"{path}: {section} is {'enabled' if enabled else 'not enabled'}")
    return EXIT_OK


def config_of(args: argparse.Namespace) -> Config:
    """The config that ``--config`` names (or the one in use: see ``find_config``)."""
    # The whole schema (and gpiozero, for the pins) only for the commands that use it.
    from party_button.config.schema import load_config

    return load_config(find_config(getattr(args, "config", None)))


def call(args: argparse.Namespace) -> int:
    """Run the command ``args.run``; returns its exit code.

    An error is printed as one line, prefixed with ``args.error_prefix`` (``party-button
    preview: ``) where a command sets one; a config error's lines (``FILE:LINE: ...``) and
    a message that names the program already are printed as they are. On an interruption
    ``args.interrupted`` is printed, where a command sets it.
    """
    try:
        return args.run(args)
    except PartyButtonError as error:
        message = str(error)
        if not isinstance(error, ConfigError) and not message.startswith("party-button "):
            message = getattr(args, "error_prefix", "") + message
        print(message, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if getattr(args, "interrupted", None):
            print(args.interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
