"""The `cabin` command: run the station or a hub, a demo, status, configuration and audit checks.

Every problem a person can cause (a bad option, a broken config file, a missing state
directory) ends in one clear line on stderr and a non-zero exit, never a traceback. So does
a bug, whose traceback is kept for the technician (`station/crash.py`). Each command imports
what it uses when it runs: `cabin decode` starts in a fraction of the time the station takes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import cli as hub_cli
from protocol.states import CabinState
from runtime.errors import StationError
from station import logs, print_test

if TYPE_CHECKING:  # the rest is imported by the command that uses it: `cabin decode` loads no station
    from config.schema import CabinConfig
    from hygiene.audit import AuditEntry
    from runtime.storage import Database

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# hygiene.badges.Role's values, written out so that building the parser imports no database code
# (tests/test_cli_imports.py checks that they agree).
ROLES = ("hygiene_referent", "technician")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE", help="configuration file (default: the packaged one)")
    common.add_argument("--state-dir", type=Path, metavar="DIR", help="where the cabin keeps its state")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")

    parser = argparse.ArgumentParser(prog="cabin", description="Telemedicine cabin station controller.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the station")
    run.add_argument("--sim", action="store_true", help="simulated devices, GP and referent")
    run.add_argument("--speed", type=_positive, default=20.0,
                     help="clock speed while the simulated patients go (with --sim; then real time)")
    run.add_argument("--patients", type=int, default=1, help="simulated patients to run first (with --sim)")
    run.add_argument("--port", type=int, help="kiosk port (default: from the configuration)")
    run.add_argument("--hub-port", type=int, default=8443, help="port of the hub run with --sim (default 8443)")
    run.add_argument("--sim-gp", action="store_true",
                     help="with --sim, the simulated GP also sees the patients you check in")

    hub_cli.add_parser(sub)

    demo = sub.add_parser("demo", parents=[common], help="one simulated consultation, headless")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of the steps")
    demo.add_argument("--stop-after", choices=[s.value for s in CabinState], metavar="STATE",
                      help="kill this process (SIGKILL) right after entering STATE")
    demo.add_argument("--speed", type=_positive, default=200.0, help="simulated clock speed")
    demo.add_argument("--seed", type=int, default=1, help="simulator random seed")

    status = sub.add_parser("status", parents=[common], help="the persisted cabin state")
    status.add_argument("--json", action="store_true")

    check = sub.add_parser("check-config", parents=[common], help="validate a configuration file")
    check.add_argument("file", nargs="?", type=Path, help="the file to check (default: --config or the packaged one)")
    check.add_argument("--sim", action="store_true", help="as `run --sim` reads it: simulated devices allowed")

    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser("verify", parents=[common], help="check the hash chain")
    export = audit_sub.add_parser("export", parents=[common], help="write entries as CSV")
    export.add_argument("--since", type=date.fromisoformat, required=True, metavar="DATE", help="YYYY-MM-DD")
    export.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")

    diag = sub.add_parser("diag", parents=[common], help="every device's health and a self-test reading")
    diag.add_argument("--sim", action="store_true", help="on simulated devices (a running station is not asked)")
    diag.add_argument("--json", action="store_true")

    decode = sub.add_parser("decode", help="decode a captured payload to JSON")
    decode.add_argument("kind", metavar="KIND", help="a GATT characteristic (e.g. 2a35), cms50 or rdm6300")
    decode.add_argument("hex", metavar="HEX", help="the payload in hex (spaces and colons allowed)")

    print_test.add_parser(sub, [common])

    badge = sub.add_parser("badge", help="staff badges")
    badge_sub = badge.add_subparsers(dest="badge_command", required=True, metavar="ACTION")
    enroll = badge_sub.add_parser("enroll", parents=[common], help="enroll a staff badge")
    enroll.add_argument("--role", choices=ROLES, required=True)
    enroll.add_argument("--label", required=True, help="who carries it (a staff name or function)")
    enroll.add_argument("badge_id", help="the id the reader shows (hex)")
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _config(args: argparse.Namespace, *, simulator: bool = False) -> CabinConfig:
    from config.loader import load_config

    return load_config(args.config, simulator=simulator)


def _state_dir(args: argparse.Namespace, config: CabinConfig | None = None) -> Path:
    """--state-dir, else the configuration's; the configuration is read only when it has a say."""
    if args.state_dir and config is None and args.config is None:
        return Path(args.state_dir)  # the packaged file's directory would be overridden: no need to read it
    config = config or _config(args)
    return Path(args.state_dir) if args.state_dir else config.station.state_dir


def _existing_state_dir(args: argparse.Namespace) -> Path:
    from runtime.storage import DB_NAME

    state_dir = _state_dir(args)
    if not (state_dir / DB_NAME).exists():
        raise StationError(f"no cabin state in {state_dir}: the station has never run there")
    return state_dir


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file and list every problem."""
    from config.loader import ConfigError, default_config_path, load_config

    path = args.file or args.config or default_config_path()
    try:
        config = load_config(path, simulator=args.sim)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_FAIL
    place = config.place()
    print(f"{path}: OK (station {config.station.id}, site {place.code} {place.name}, "
          f"{len(config.devices)} devices, {len(config.cleaning.steps)} cleaning steps)")
    return EXIT_OK


def _with_db(state_dir: Path, work: Callable[[Database], Coroutine[Any, Any, int]]) -> int:
    """Run `work` on the started state database of `state_dir`, in a fresh event loop."""
    import asyncio

    from runtime.storage import Database

    async def run() -> int:
        db = Database(state_dir)
        await db.start()
        try:
            return await work(db)
        finally:
            await db.stop()

    return asyncio.run(run())


def cmd_status(args: argparse.Namespace) -> int:
    """Print the persisted state; a set cleaning mark means the cabin resumes awaiting cleaning."""
    import json

    from hygiene.store import CabinStore

    state_dir = _existing_state_dir(args)

    async def work(db: Database) -> int:
        record = await CabinStore(db).start()
        view = record.to_json()
        view["resumes_in"] = (
            "out_of_service" if record.out_of_service_reason
            else "awaiting_cleaning" if record.cleaning_required else "ready or closed (opening hours)"
        )
        if args.json:
            print(json.dumps(view, ensure_ascii=False))
        else:
            print(f"state directory: {state_dir}")
            print(f"last state:      {record.state}")
            print(f"needs cleaning:  {'YES since ' + record.mark_set_at if record.cleaning_required else 'no'}")
            print(f"last cleaning:   {record.last_cleaning_at or 'never'}")
            print(f"resumes in:      {view['resumes_in']}")
        return EXIT_OK

    return _with_db(state_dir, work)


def cmd_audit(args: argparse.Namespace) -> int:
    """Verify the audit chain or export it as CSV."""
    import asyncio

    from hygiene.audit import AuditTrail, write_csv

    state_dir = _existing_state_dir(args)

    async def work(db: Database) -> int:
        trail = AuditTrail(db)
        await trail.start()
        if args.audit_command == "verify":
            result = await trail.verify()
            if result.ok:
                print(f"audit trail intact: {result.entries} entries")
                return EXIT_OK
            bad = result.broken
            assert bad is not None
            print(f"audit trail BROKEN at entry {bad.seq} ({bad.at}, {bad.event}): {result.reason}", file=sys.stderr)
            return EXIT_FAIL
        entries = await trail.entries(since=args.since.isoformat())
        if args.out:
            count = await asyncio.to_thread(_write_csv_file, args.out, entries)
            print(f"wrote {count} entries to {args.out}")
        else:
            write_csv(entries, sys.stdout)
        return EXIT_OK

    return _with_db(state_dir, work)


def _write_csv_file(path: Path, entries: list[AuditEntry]) -> int:
    from hygiene.audit import write_csv

    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_csv(entries, out)
    except OSError as exc:
        raise StationError(f"cannot write {path}: {exc.strerror}") from exc


def cmd_badge(args: argparse.Namespace) -> int:
    """Enroll a staff badge under its keyed hash."""
    from hygiene.badges import BadgeRegistry, Role
    from runtime.clock import Clock

    state_dir = _state_dir(args)

    async def work(db: Database) -> int:
        registry = BadgeRegistry(db, state_dir)
        await registry.start()
        badge = await registry.enroll(args.badge_id, Role(args.role), args.label, Clock().now().isoformat())
        print(f"enrolled a {badge.role.value} badge for {badge.label}")
        return EXIT_OK

    return _with_db(state_dir, work)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run one simulated consultation and report it."""
    import asyncio
    import json
    import tempfile

    from station.state_lock import StateDirLock
    from station.tools import simulator_imports

    with simulator_imports():
        from station.demo import run_demo

    config = _config(args, simulator=True)
    narrate = (lambda line: None) if args.json else print

    def go(state_dir: Path) -> int:
        with StateDirLock(state_dir):  # a demo on a station's directory would share its database
            record = asyncio.run(run_demo(config, state_dir, speed=args.speed, seed=args.seed, narrate=narrate,
                                          stop_after=args.stop_after))
        if args.json:
            print(json.dumps(record.to_json(), ensure_ascii=False))
        else:
            print(f"measurements: {', '.join(str(m['kind']) for m in record.measurements)}")
            print(f"prescription {record.prescription['id']}: "
                  f"{'printed' if record.prescription['printed'] else 'NOT printed'}")
            print(f"cleaning cleared by: {record.cleaning['cleared_by_role']}; final state: {record.final_state}")
        return EXIT_OK

    if args.state_dir:
        return go(Path(args.state_dir))
    with tempfile.TemporaryDirectory(prefix="cabin-demo-") as tmp:
        return go(Path(tmp))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the station until SIGINT or SIGTERM; one station per state directory."""
    import asyncio

    from station.run import run_station
    from station.state_lock import StateDirLock
    from station.tools import simulator_imports

    if args.sim:
        with simulator_imports():  # before anything starts: without the extra, one line and nothing done
            import sim.crew  # noqa: F401
            import sim.rig  # noqa: F401
    config = _config(args, simulator=args.sim)
    state_dir = _state_dir(args, config)
    with StateDirLock(state_dir):  # before anything touches the directory, held until the station is gone
        return asyncio.run(run_station(config, state_dir, sim=args.sim, speed=args.speed,
                                       patients=args.patients, port=args.port, hub_port=args.hub_port,
                                       sim_gp=args.sim_gp))


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a payload; bad input is a usage error (exit 2)."""
    import json

    from runtime.errors import ParseError
    from station.tools import decode

    try:
        print(json.dumps(decode(args.kind, args.hex), ensure_ascii=False, default=str))
    except ParseError as exc:
        print(f"cabin decode: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_diag(args: argparse.Namespace) -> int:
    """Report every device and self-test it (a running station is asked); exit 1 when a required device fails."""
    import json

    from station.diagnosis import failed
    from station.tools import diagnose

    config = _config(args, simulator=args.sim)
    found = diagnose(config, sim=args.sim, state_dir=_state_dir(args, config))
    if args.json:
        print(json.dumps(found.rows, ensure_ascii=False, default=str))
    else:
        if found.running_in is not None:
            print(f"asked the station running in {found.running_in} (it keeps its devices open)")
        for row in found.rows:
            print(_diag_line(row))
    return EXIT_FAIL if failed(found.rows) else EXIT_OK


def _diag_line(row: dict[str, Any]) -> str:
    test = row["self_test"]
    detail = test["detail"] if isinstance(test["detail"], str) else _reading_line(test["detail"])
    verdict = "SKIPPED" if test["ok"] is None else "OK" if test["ok"] else "FAIL"
    return (f"{row['device_id']:<15} {row['kind']:<15} {row['transport']:<40} "
            f"{'connected' if row['connected'] else 'DISCONNECTED':<12} "
            f"battery {row.get('battery_percent') or '-':<4} firmware {row.get('firmware') or '-':<8} "
            f"{verdict}: {detail}" + (f"  (last error: {row['last_error']})" if row.get("last_error") else ""))


def _reading_line(reading: dict[str, Any]) -> str:
    value = reading.get("value")
    if isinstance(value, dict):
        value = "/".join(str(v) for v in value.values())
    return f"{reading.get('kind')} {value} {reading.get('unit') or ''}".strip()


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "diag": cmd_diag, "decode": cmd_decode,
    "run": cmd_run, "demo": cmd_demo, "status": cmd_status, "check-config": cmd_check_config,
    "audit": cmd_audit, "badge": cmd_badge, "hub": hub_cli.run, "print-test": print_test.cmd_print_test,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cabin` console script."""
    args = _parser().parse_args(argv)
    logs.configure(getattr(args, "verbose", False))
    try:
        return COMMANDS[args.command](args)
    except StationError as exc:
        _tell(exc)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a bug, told in one line, its traceback kept
        from station.crash import CrashReport

        CrashReport().report(exc)
        return EXIT_FAIL


def _tell(exc: StationError) -> None:
    """An expected failure in words: each problem of a configuration on its own line, else one line."""
    from config.loader import ConfigError  # a ConfigError has already imported it; anything else pays once

    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(problem, file=sys.stderr)
    else:
        print(f"cabin: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
