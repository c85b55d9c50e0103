"""`cabin hub serve | hash-password | new-token`: run a hub, or prepare its accounts.

The station's `cabin` command hands every `hub` subcommand here; nothing of the station is
imported on this path.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import StationError

if TYPE_CHECKING:  # imported where used: the `cabin` command builds this parser for every command it runs
    from hub.config import HubConfig

MIN_PASSWORD = 12


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `hub` and its actions to the `cabin` command."""
    hub = subparsers.add_parser("hub", help="the hub that GPs and stations dial out to")
    actions = hub.add_subparsers(dest="hub_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the hub until Ctrl-C")
    serve.add_argument("--config", type=Path, metavar="FILE", help="hub configuration (default: the packaged example)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log more")
    actions.add_parser("hash-password", help="read a GP password (not echoed) and print its scrypt hash")
    actions.add_parser("new-token", help="print a new station token and the digest the hub keeps")


def run(args: argparse.Namespace) -> int:
    """Serve a hub, or prepare its accounts (password hashes, station tokens)."""
    import asyncio
    import getpass

    from hub.config import default_hub_config_path, hash_password, load_hub_config, new_station_token

    if args.hub_command == "serve":
        return asyncio.run(serve(load_hub_config(args.config or default_hub_config_path())))
    if args.hub_command == "hash-password":
        password = getpass.getpass("GP password: ")
        if len(password) < MIN_PASSWORD:
            raise StationError(f"a GP password has at least {MIN_PASSWORD} characters")
        if getpass.getpass("again: ") != password:
            raise StationError("the two passwords differ")
        print(hash_password(password))
        return 0
    token, digest = new_station_token()
    print(f"station token (goes in the station's [hub] token): {token}")
    print(f"its digest (goes in the hub's [[stations]] token_sha256): {digest}")
    return 0


async def serve(config: HubConfig, *, say: Callable[[str], None] = print) -> int:
    """Serve a hub until SIGINT or SIGTERM."""
    import asyncio
    import signal

    from hub.server import Hub

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hub = Hub(config)
    await hub.start()
    say(f"hub serving the GP console at {hub.url}/ for {len(config.stations)} stations and {len(config.gps)} GPs")
    try:
        await stop.wait()
    finally:
        await hub.stop()
    return 0
