"""`cabin hub serve | accounts | hash-password | new-token | rotate-token | reset-totp`: run a hub, or manage its
accounts (`cabin hub accounts ...` changes them in the hub's store, docs/design.md, "Accounts in the store").

The station's `cabin` command hands every `hub` subcommand here; nothing of the station is
imported on this path.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from runtime.errors import StationError

if TYPE_CHECKING:  # imported where used: the `cabin` command builds this parser for every command it runs
    from hub.config import HubConfig

MIN_PASSWORD = 12
# The top-level tables only one kind of configuration file has: a hub's (hub/defaults/hub.toml)
# and a cabin's (config/defaults/cabin.toml). Both may have a [hub] table and [[sites]].
HUB_TABLES = ("login", "ice", "store", "booking", "public", "notifications", "mail", "sms", "calendar", "fleet",
              "monitoring", "stations", "gps", "coordinators", "fhir_clients")
CABIN_TABLES = ("station", "devices", "checkin", "timeouts", "cleaning", "mobile", "printer")
ConfigKind = Literal["hub", "cabin"]
# The parser class of the `cabin` command (station/cli.py), which its subcommands' parsers share.
P = TypeVar("P", bound=argparse.ArgumentParser)


def add_parser(subparsers: argparse._SubParsersAction[P]) -> None:
    """Add `hub` and its actions to the `cabin` command."""
    hub = subparsers.add_parser("hub", help="the hub that GPs and stations dial out to")
    actions = hub.add_subparsers(dest="hub_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the hub until Ctrl-C")
    serve.add_argument("--config", type=Path, metavar="FILE", help="hub configuration (default: the packaged example)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log more")
    actions.add_parser("hash-password", help="read a GP's or coordinator's password (not echoed) and print its "
                       "scrypt hash")
    actions.add_parser("new-token", help="print a new station token and the digest the hub keeps")
    rotate = actions.add_parser("rotate-token", help="give a station a next token, in the hub's file beside its "
                                "current one; print it")
    rotate.add_argument("--config", type=Path, metavar="FILE", required=True, help="the hub's configuration file")
    rotate.add_argument("station", metavar="STATION_ID", help="the station's id in the file's [[stations]]")
    reset = actions.add_parser("reset-totp", help="remove a GP's second factor (a lost phone and lost recovery "
                               "codes): her next login sets up a new one")
    reset.add_argument("--config", type=Path, metavar="FILE", required=True, help="the hub's configuration file")
    reset.add_argument("username", metavar="USERNAME",
                       help="a GP's or staff account's username (`cabin hub accounts list`)")
    _add_accounts_parser(actions)


def _add_accounts_parser(actions: argparse._SubParsersAction[P]) -> None:
    """`cabin hub accounts ...`: the accounts in the hub's store."""
    accounts = actions.add_parser("accounts", help="list, create, disable, enable the GPs, staff and stations in "
                                  "the hub's store; rotate a station's token, set a password")
    verbs = accounts.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--config", type=Path, metavar="FILE", required=True, help="the hub's configuration file")
        return parser
    verb("list", "every account, enabled or not")
    gp = verb("add-gp", "create a GP (her password is read from the terminal or standard input)")
    gp.add_argument("username", metavar="USERNAME")
    gp.add_argument("--name", required=True, help="her name, as prescriptions carry it")
    gp.add_argument("--rpps", required=True, help="her RPPS number (11 digits)")
    gp.add_argument("--address", required=True, help="her professional address")
    gp.add_argument("--phone", required=True, help="her professional phone number")
    gp.add_argument("--qualification", default="Médecin généraliste")
    gp.add_argument("--station", action="append", default=[], metavar="STATION_ID", help="a station she is given "
                    "(repeat for several)")
    station = verb("add-station", "create a station and print its token, once")
    station.add_argument("station", metavar="STATION_ID")
    station.add_argument("--site", required=True, help="the label GPs see, e.g. 'Nangis (mairie)'")
    station.add_argument("--site-code", help="the [[sites]] code it stands at, when patients book it")
    staff = verb("add-staff", "create a coordinator, a secretary or a technician (password as for add-gp)")
    staff.add_argument("username", metavar="USERNAME")
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", required=True, choices=("coordinator", "secretary", "technician"))
    staff.add_argument("--site-code", help="a secretary's mobile unit ([[sites]] code)")
    for name, what in (("disable", "disable an account: it no longer logs in or connects, its logins end"),
                       ("enable", "enable an account again")):
        parser = verb(name, what)
        parser.add_argument("kind", choices=("gp", "staff", "station"))
        parser.add_argument("name", metavar="NAME", help="a username, or a station's id")
    rotate = verb("rotate-token", "give a station a next token and print it, once: its current one works until "
                  "the station first connects with the next")
    rotate.add_argument("station", metavar="STATION_ID")
    password = verb("set-password", "give a GP or a staff member a new password (read as for add-gp)")
    password.add_argument("username", metavar="USERNAME")


def run(args: argparse.Namespace) -> int:
    """Serve a hub, or prepare its accounts (password hashes, station tokens)."""
    import asyncio
    import getpass

    from config.loader import ConfigError
    from hub.config import default_hub_config_path, hash_password, load_hub_config, new_station_token

    if args.hub_command == "serve":
        path = args.config or default_hub_config_path()
        try:
            config = load_hub_config(path)
        except ConfigError:
            refuse_other_kind(path, "hub")
            raise
        return asyncio.run(serve(config))
    if args.hub_command == "accounts":
        return asyncio.run(accounts(load_hub_config(args.config), args))
    if args.hub_command == "hash-password":
        print(hash_password(_read_password(getpass.getpass)))
        return 0
    if args.hub_command == "rotate-token":
        token = rotate_token(args.config, args.station)
        print(f"next token of station {args.station} (goes in its [hub] token): {token}")
        print(f"{args.config} now lists the station twice, its next token after its current one. Restart the hub: it "
              "takes both until the station connects with the next one, then refuses the current one. Then put "
              "the token in the station's file and restart the station; once the hub has logged the switch, "
              "remove the station's first [[stations]] entry.")
        return 0
    if args.hub_command == "reset-totp":
        if asyncio.run(reset_totp(load_hub_config(args.config), args.username)):
            print(f"{args.username}'s second factor and recovery codes are removed: at her next login she sets up "
                  "a new one on the console. Check her identity before you tell her.")
        else:
            print(f"{args.username} had no second factor: nothing to remove.")
        return 0
    token, digest = new_station_token()
    print(f"station token (goes in the station's [hub] token): {token}")
    print(f"its digest (goes in the hub's [[stations]] token_sha256): {digest}")
    return 0


async def reset_totp(config: HubConfig, username: str) -> bool:
    """Remove `username`'s second factor from the hub's store: whether she had one. The audit trail
    names the command and the Unix user who ran it."""
    import getpass
    import time
    from datetime import UTC, datetime

    from hub.accounts import AccountDirectory
    from hub.store import Store
    from hub.store.accounts import import_accounts
    from hub.totp import TotpStore

    if not config.durable_store:
        raise StationError("the hub keeps no second factors: it has neither a [login] state_dir nor a [store] url")
    store = Store(config.store_url())
    await store.start()
    try:
        at = datetime.fromtimestamp(time.time(), UTC)
        await store.run(lambda session: import_accounts(session, config, at))
        directory = AccountDirectory(store, config, time.time)
        await directory.reload()
        if directory.account(username) is None:
            known = ", ".join([g.username for g in directory.gps] + [c.username for c in directory.coordinators])
            raise StationError(f"the hub's store has no enabled GP or staff account {username!r} (it has: "
                               f"{known or 'none'}); "
                               "`cabin hub accounts list` lists every account")
        return await TotpStore(store, time.time).forget(username, by=f"cabin hub reset-totp ({getpass.getuser()})")
    finally:
        await store.stop()


async def accounts(config: HubConfig, args: argparse.Namespace, *, say: Callable[[str], None] = print,
                   hasher: Callable[[str], str] | None = None) -> int:
    """Run one `cabin hub accounts` action on the hub's store, after the first import of the hub's file. The
    audit trail names the command and the Unix user who ran it; `hasher` makes password hashes (scrypt)."""
    import getpass
    import time
    from datetime import UTC, datetime

    from hub.accounts import AccountDirectory
    from hub.config import hash_password
    from hub.store import Store
    from hub.store.accounts import import_accounts

    if not config.durable_store:
        raise StationError("the hub keeps its accounts in memory only: give it a [store] url or a [login] state_dir")
    by = f"cabin hub accounts ({getpass.getuser()})"
    store = Store(config.store_url())
    await store.start()
    try:
        at = datetime.fromtimestamp(time.time(), UTC)
        await store.run(lambda session: import_accounts(session, config, at))
        directory = AccountDirectory(store, config, time.time, hasher=hasher or hash_password)
        command = args.accounts_command
        if command == "list":
            for row in await directory.list():
                state = "enabled" if row.enabled else "DISABLED"
                say(f"{row.kind:8} {row.name:24} {row.role:12} {state:9} {row.label} ({row.detail})")
        elif command == "add-gp":
            identity = {"name": args.name, "rpps": args.rpps, "address": args.address, "phone": args.phone,
                        "qualification": args.qualification}
            await directory.add_gp(args.username, _read_password(getpass.getpass), identity, args.station, by=by)
            say(f"GP {args.username} created")
        elif command == "add-staff":
            await directory.add_staff(args.username, _read_password(getpass.getpass, args.role), args.name, args.role,
                                      args.site_code, by=by)
            say(f"{args.role} {args.username} created")
        elif command == "add-station":
            token = await directory.add_station(args.station, args.site, args.site_code, by=by)
            say(f"station {args.station} created; its token (goes in its [hub] token, shown only now): {token}")
        elif command in ("disable", "enable"):
            await directory.set_enabled(args.kind, args.name, command == "enable", by=by)
            say(f"{args.kind} {args.name} {command}d" + (": its logins end on every hub instance within seconds"
                                                        if command == "disable" and args.kind != "station" else ""))
        elif command == "rotate-token":
            token = await directory.rotate_token(args.station, by=by)
            say(f"next token of station {args.station} (goes in its [hub] token, shown only now): {token}")
            say("its current token works until the station first connects with this one, then is refused.")
        else:
            await directory.set_password(args.username, _read_password(getpass.getpass, "new"), by=by)
            say(f"{args.username}'s password is set")
    finally:
        await store.stop()
    return 0


def rotate_token(path: Path, station_id: str) -> str:
    """Add a next token for `station_id` to the hub's file, appended so that the rest stays as written; the token.

    The new file is checked to load as the old one plus that entry before it replaces the old one.
    """
    import json

    from config.loader import ConfigError
    from hub.config import StationAccount, load_hub_config, new_station_token
    from runtime.storage import replace_file

    config = load_hub_config(path)
    entries = [s for s in config.stations if s.id == station_id]
    if not entries:
        known = ", ".join(dict.fromkeys(s.id for s in config.stations)) or "none"
        raise StationError(f"{path} has no station {station_id!r} in its [[stations]] (it has: {known})")
    if len(entries) > 1:
        raise StationError(f"station {station_id} already has a next token in {path}: once it has connected with "
                           "it (the hub logs so), remove its first [[stations]] entry, then rotate again")
    token, digest = new_station_token()
    text = path.read_text(encoding="utf-8")
    # A JSON string is a valid TOML basic string.
    text += ("" if text.endswith("\n") else "\n") + (
        f"\n# The next token of {station_id} (cabin hub rotate-token): once the station has connected with it,\n"
        "# remove the station's entry above, which holds its previous one.\n"
        f"[[stations]]\nid = {json.dumps(station_id)}\nsite = {json.dumps(entries[0].site, ensure_ascii=False)}\n"
        f'token_sha256 = "{digest}"\n')
    expected = config.model_copy(update={"stations": (*config.stations, StationAccount(
        id=station_id, site=entries[0].site, token_sha256=digest))})
    def check(written: Path) -> None:
        try:
            extended = load_hub_config(written) == expected
        except ConfigError:
            extended = False
        if not extended:
            raise StationError(f"{path} could not be extended safely, and is left as it was")

    try:
        replace_file(path, text.encode("utf-8"), path.stat().st_mode & 0o777, check=check)
    except OSError as exc:
        raise StationError(f"cannot write {path}: {exc}") from exc
    return token


def _read_password(ask: Callable[[str], str], who: str = "GP") -> str:
    """A new password: typed twice at a terminal (not echoed), or one line of standard input otherwise."""
    try:
        if sys.stdin.isatty():
            password = ask(f"{who} password: ")
            if len(password) >= MIN_PASSWORD and ask("again: ") != password:
                raise StationError("the two passwords differ")
        else:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            password = line.rstrip("\r\n")
    except EOFError:
        raise StationError("no password given: the input ended before one was typed") from None
    if len(password) < MIN_PASSWORD:
        raise StationError(f"a {who} password has at least {MIN_PASSWORD} characters")
    return password


def config_kind(path: Path) -> ConfigKind | None:
    """Which kind of configuration a file looks like, from the tables only one kind has; None when unclear."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    hub, cabin = _tables(data, HUB_TABLES), _tables(data, CABIN_TABLES)
    if hub and not cabin:
        return "hub"
    if cabin and not hub:
        return "cabin"
    return None


def refuse_other_kind(path: Path | None, expected: ConfigKind) -> None:
    """When `path`, which failed as an `expected` configuration, is the other kind: StationError saying so."""
    kind = config_kind(path) if path is not None else None
    if path is None or kind is None or kind == expected:
        return
    import tomllib

    found = ", ".join(_tables(tomllib.loads(path.read_text(encoding="utf-8")), HUB_TABLES + CABIN_TABLES))
    if kind == "hub":
        raise StationError(f"{path} is a hub's configuration (it has {found}), not a cabin's ([station], "
                           f"[[devices]]): the hub reads it, with cabin hub serve --config {path}")
    raise StationError(f"{path} is a cabin's configuration (it has {found}), not a hub's ([hub], [login], "
                       f"[[stations]], [[gps]]): the station reads it, with cabin run --config {path}")


def _tables(data: dict[str, object], names: tuple[str, ...]) -> list[str]:
    """The `names` that are top-level tables of `data`, as TOML writes them: [name] or [[name]]."""
    return [f"[[{name}]]" if isinstance(data[name], list) else f"[{name}]" for name in names
            if isinstance(data.get(name), dict | list)]


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
    stations = len({s.id for s in hub.accounts.stations})  # a station being given a next token is listed twice
    say(f"hub serving the GP console at {hub.url}/ for {stations} stations and {len(hub.accounts.gps)} GPs")
    try:
        await stop.wait()
    finally:
        await hub.stop()
    return 0
