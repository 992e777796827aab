"""``party-button sync``: one party in every room (or say whether sync is enabled, or print
the leader's ``snapserver.conf``)."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from party_button.cli.common import EXIT_FAILED, EXIT_OK, add_command, add_is_enabled, say_enabled
from party_button.config.location import find_config
from party_button.config.sync import SnapcastPorts, load_sync_config
from party_button.control.protocol import client_socket_path
from party_button.systemd import Notifier


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sync`` to the main command."""
    text = "play one party in every room: the leader's songs through Snapcast, every room's lights"
    warning = "needs sync.enabled: true in the config; the leader also needs snapserver"
    parser = add_command(
        subparsers, "sync", run, text, example="--is-enabled", socket=True, warning=warning
    )
    parser.add_argument(
        "--listen", metavar="ADDRESS", default="", help="the address to serve on (default: all)"
    )
    parser.add_argument(
        "--snapserver-control-port",
        metavar="PORT",
        type=int,
        default=SnapcastPorts().control,
        help="the leader's snapserver JSON-RPC port (TCP, default %(default)s)",
    )
    parser.add_argument(
        "--snapserver-conf",
        action="store_true",
        help="print the leader's snapserver.conf made from the sync section, and exit",
    )
    parser.add_argument(
        "--snapcast-packages",
        action="store_true",
        help="print the Debian packages of Snapcast this Pi needs, and exit",
    )
    parser.add_argument(
        "--snapcast-files",
        metavar="ROOT",
        help="write snapclient's (and the leader's snapserver's) settings under ROOT, and exit",
    )
    parser.add_argument(
        "--clock-offset",
        metavar="SECONDS",
        type=float,
        default=0.0,
        help="shift this service's clock (to test the estimate of the leader's clock)",
    )
    add_is_enabled(parser, "sync")


def run(args: argparse.Namespace) -> int:
    """Serve the rooms (leader) or follow the leader (room) until SIGTERM or SIGINT."""
    # asyncio and the sync service only for this command (the daemon's command line goes without).
    import asyncio

    from party_button.sync.service import LeaderService, RoomService
    from party_button.sync.snapserver import (
        snapcast_packages,
        snapserver_conf,
        write_snapcast_files,
    )

    path = find_config(args.config)
    config = load_sync_config(path)
    if args.is_enabled:
        return say_enabled(path, "sync", config.enabled)
    if args.snapserver_conf:
        print(snapserver_conf(config), end="")
        return EXIT_OK
    if args.snapcast_packages:
        print(" ".join(snapcast_packages(config)))
        return EXIT_OK
    if args.snapcast_files:
        for target in write_snapcast_files(config, Path(args.snapcast_files)):
            print(target)
        return EXIT_OK
    if not config.enabled:
        print(f"{path}: sync.enabled is not true: no rooms to play in")
        return EXIT_FAILED
    socket_path = Path(args.socket) if args.socket else client_socket_path()
    offset = args.clock_offset

    def clock() -> float:
        return time.monotonic() + offset

    service: LeaderService | RoomService
    if config.role == "leader":
        service = LeaderService(config, socket_path, clock=clock, host=args.listen)
    else:
        ports = SnapcastPorts(control=args.snapserver_control_port)
        service = RoomService(config, socket_path, clock=clock, ports=ports, listen=args.listen)
    notifier = Notifier()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        notifier.ready(f"sync: {config.role} {config.room_name()}")
        await service.run(stop)

    try:
        asyncio.run(serve())
    finally:
        notifier.stopping()
    return EXIT_OK
