"""The `cabin` command: run the station or a hub, a demo, status, configuration and audit checks.

Every problem a person can cause (a bad option, a broken config file, a missing state
directory) ends in one clear line on stderr and a non-zero exit, never a traceback. So does
a bug, whose traceback is kept for the technician (`station/crash.py`). Each command imports
what it uses when it runs: `cabin decode` starts in a fraction of the time the station takes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hub import cli as hub_cli
from protocol.states import CabinState
from runtime.errors import StationError
from station import logs, print_test

if TYPE_CHECKING:  # the rest is imported by the command that uses it: `cabin decode` loads no station
    from config.schema import CabinConfig
    from hygiene.audit import AuditEntry
    from runtime.storage import Database

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_PIPE_CLOSED = 141  # what a shell shows for a Unix tool ended by SIGPIPE (128 + 13)
# hygiene.badges.Role's values, written out so that building the parser imports no database code
# (tests/test_cli_imports.py checks that they agree).
ROLES = ("hygiene_referent", "technician")
# The states `cabin demo` passes through, in order: the only ones --stop-after can stop after.
DEMO_STATES = (CabinState.READY, CabinState.CHECKING_IN, CabinState.ELIGIBILITY, CabinState.WAITING_FOR_DOCTOR,
               CabinState.IN_CONSULTATION, CabinState.WRAPPING_UP, CabinState.AWAITING_CLEANING, CabinState.CLEANING)
# The options every station command takes; given before the command, they are refused with the right order.
COMMON_OPTIONS = ("--config", "--state-dir", "-v", "--verbose")
# The commands whose first word after them is an action (`cabin audit verify`).
WITH_ACTIONS = ("audit", "badge", "hub")


class _Parser(argparse.ArgumentParser):
    """argparse whose refusal is one line: what is wrong, and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (usage: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE", help="configuration file (default: the packaged one)")
    common.add_argument("--state-dir", type=Path, metavar="DIR", help="where the cabin keeps its state")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")

    parser = _Parser(prog="cabin", description="Telemedicine cabin station controller.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the station")
    run.add_argument("--sim", action="store_true", help="simulated devices, GP and referent")
    run.add_argument("--speed", type=_positive, default=20.0,
                     help="clock speed while the simulated patients go (with --sim; then real time)")
    run.add_argument("--patients", type=_count,
                     help="simulated patients to run first (with --sim; default 1, on board 2: booked and walk-in)")
    run.add_argument("--port", type=_port, help="kiosk port (default: from the configuration; 0: any free port)")
    run.add_argument("--hub-port", type=_port, default=8443, help="port of the hub run with --sim (default 8443)")
    run.add_argument("--sim-gp", action="store_true",
                     help="with --sim, the simulated GP also sees the patients you check in")
    run.add_argument("--mobile", action="store_true",
                     help="a mobile unit's vehicle: the packaged on-board configuration unless --config gives one")
    run.add_argument("--sim-secretary", action="store_true",
                     help="on board with --sim, the simulated secretary also sends patients to the doctor")

    hub_cli.add_parser(sub)

    demo = sub.add_parser("demo", parents=[common], help="one simulated consultation, headless")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of the steps")
    demo.add_argument("--stop-after", choices=[s.value for s in DEMO_STATES], metavar="STATE",
                      help=f"kill this process (SIGKILL) right after entering STATE: {', '.join(DEMO_STATES)}")
    demo.add_argument("--speed", type=_positive, default=200.0, help="simulated clock speed")
    demo.add_argument("--seed", type=_count, default=1, help="simulator random seed")

    status = sub.add_parser("status", parents=[common], help="the persisted cabin state")
    status.add_argument("--json", action="store_true")

    check = sub.add_parser("check-config", parents=[common], help="validate a configuration file")
    check.add_argument("file", nargs="?", type=Path, help="the file to check (default: --config or the packaged one)")
    check.add_argument("--sim", action="store_true", help="as `run --sim` reads it: simulated devices allowed")

    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser("verify", parents=[common], help="check the hash chain")
    export = audit_sub.add_parser("export", parents=[common], help="write entries as CSV")
    export.add_argument("--since", type=_day, required=True, metavar="DATE", help="YYYY-MM-DD")
    export.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")

    diag = sub.add_parser("diag", parents=[common], help="every device's health and a self-test reading")
    diag.add_argument("--sim", action="store_true", help="on simulated devices (a running station is not asked)")
    diag.add_argument("--json", action="store_true")

    decode = sub.add_parser("decode", help="decode a captured payload to JSON")
    decode.add_argument("kind", metavar="KIND", help="a GATT characteristic (e.g. 2a35), cms50, rdm6300 or stadiometer")
    decode.add_argument("hex", metavar="HEX", help="the payload in hex (spaces and colons allowed)")

    print_test.add_parser(sub, [common])

    badge = sub.add_parser("badge", help="staff badges")
    badge_sub = badge.add_subparsers(dest="badge_command", required=True, metavar="ACTION")
    enroll = badge_sub.add_parser("enroll", parents=[common], help="enroll a staff badge")
    enroll.add_argument("--role", choices=ROLES, required=True)
    enroll.add_argument("--label", type=_label, required=True, help="who carries it (a staff name or function)")
    enroll.add_argument("badge_id", type=_badge_id, metavar="BADGE_ID", help="the id the reader shows (hex)")
    relabel = badge_sub.add_parser("relabel", parents=[common], help="give an enrolled badge a new label")
    relabel.add_argument("--label", type=_label, required=True, help="who carries it now")
    relabel.add_argument("badge_id", type=_badge_id, metavar="BADGE_ID", help="the id the reader shows (hex)")
    remove = badge_sub.add_parser("remove", parents=[common], help="withdraw an enrolled badge")
    remove.add_argument("badge_id", type=_badge_id, metavar="BADGE_ID", help="the id the reader shows (hex)")
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535; 0 takes any free port)")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: YYYY-MM-DD, as in 2026-03-01") from None


def _label(text: str) -> str:
    label = " ".join(text.split())
    if not label:
        raise argparse.ArgumentTypeError("a badge needs a label: who carries it (a staff name or function)")
    return label


def _badge_id(text: str) -> str:
    from hygiene.badges import BadgeError, parse_badge_id

    try:
        return parse_badge_id(text)
    except BadgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _config(args: argparse.Namespace, *, simulator: bool = False) -> CabinConfig:
    from config.loader import ConfigError, load_config

    try:
        return load_config(args.config, simulator=simulator)
    except ConfigError:
        hub_cli.refuse_other_kind(args.config, "cabin")
        raise


def _state_dir(args: argparse.Namespace, config: CabinConfig | None = None) -> Path:
    """--state-dir, else the configuration's; the configuration is read only when it has a say."""
    if args.state_dir and config is None and args.config is None:
        return Path(args.state_dir)  # the packaged file's directory would be overridden: no need to read it
    config = config or _config(args)
    return Path(args.state_dir) if args.state_dir else config.station.state_dir


def _existing_state_dir(args: argparse.Namespace, *, writes: bool = False) -> Path:
    """The state directory of a cabin that has run: a one-off command never creates one (README)."""
    from runtime.storage import DB_NAME

    state_dir = _state_dir(args)
    _refuse_a_file(state_dir)
    if not (state_dir / DB_NAME).exists():
        raise StationError(f"no cabin state in {state_dir}: the station has never run there")
    if writes:
        _refuse_unwritable(state_dir, f"cannot change the state directory {state_dir}")
    return state_dir


def _new_or_existing_state_dir(state_dir: Path) -> Path:
    """A state directory a station may create: it, or the nearest directory above it, must take writes."""
    _refuse_a_file(state_dir)
    existing = next(d for d in (state_dir, *state_dir.absolute().parents) if d.exists())
    doing = f"cannot use the state directory {state_dir}"
    if not existing.is_dir():
        raise StationError(f"{doing}: {existing} is not a directory")
    _refuse_unwritable(existing, doing)
    return state_dir


def _refuse_a_file(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StationError(f"the state directory {path} is not a directory")


def _refuse_unwritable(directory: Path, doing: str) -> None:
    """StationError starting with `doing` when this user cannot create files in `directory`, and why."""
    if os.access(directory, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    why = f"the file system of {directory} is mounted read-only" if read_only else \
        f"{directory} is not writable by this user"
    raise StationError(f"{doing}: {why}")


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file and list every problem."""
    from config.loader import ConfigError, default_config_path, load_config

    path = args.file or args.config or default_config_path()
    try:
        config = load_config(path, simulator=args.sim)
    except ConfigError as exc:
        hub_cli.refuse_other_kind(path, "cabin")
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_FAIL
    place, closing = config.place(), config.closing_cleaning
    on_board = (f", on board, {len(closing.steps)} closing cleaning steps"
                if config.station.mode == "on_board" and closing is not None else "")
    print(f"{path}: OK (station {config.station.id}, site {place.code} {place.name}, "
          f"{len(config.devices)} devices, {len(config.cleaning.steps)} cleaning steps{on_board})")
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
    if args.audit_command == "verify":
        return _verify_audit(state_dir)

    async def work(db: Database) -> int:
        trail = AuditTrail(db)
        entries = await trail.entries(since=args.since.isoformat())
        if args.out:
            count = await asyncio.to_thread(_write_csv_file, args.out, entries)
            print(f"wrote {count} entries to {args.out}")
        else:
            write_csv(entries, sys.stdout)
        return EXIT_OK

    return _with_db(state_dir, work)


def _verify_audit(state_dir: Path) -> int:
    """`cabin audit verify`: exit 0 intact, 1 broken, cut short or rewritten (README, "Commands"); reads only."""
    from hygiene.audit import verify_state_dir

    result = verify_state_dir(state_dir)
    if not result.ok:
        bad = result.broken
        where = f" at entry {bad.seq} ({bad.at}, {bad.event})" if bad is not None else ""
        print(f"audit trail BROKEN{where}: {result.reason}", file=sys.stderr)
        return EXIT_FAIL
    head = result.acknowledged
    print(f"audit trail intact: {result.entries} entries"
          + (f", the first {result.unkeyed} under the old unkeyed rule" if result.unkeyed else "")
          + (f"; the hub acknowledged entry {head.seq}" if head is not None
             else "; no head acknowledged by a hub yet: entries deleted at the end cannot be told"))
    return EXIT_OK


def _write_csv_file(path: Path, entries: list[AuditEntry]) -> int:
    from hygiene.audit import write_csv

    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_csv(entries, out)
    except OSError as exc:
        raise StationError(f"cannot write {path}: {exc.strerror}") from exc


def cmd_badge(args: argparse.Namespace) -> int:
    """Enroll, relabel or remove a staff badge (under its keyed hash), on the audit trail."""
    from hygiene.badges import BadgeAlreadyEnrolled, BadgeRegistry, Role
    from runtime.clock import Clock

    state_dir = _existing_state_dir(args, writes=True)

    async def work(db: Database) -> int:
        registry = BadgeRegistry(db, state_dir)
        await registry.start()
        now = Clock().now()
        if args.badge_command == "enroll":
            try:
                badge = await registry.add(args.badge_id, Role(args.role), args.label, now)
            except BadgeAlreadyEnrolled as exc:
                raise StationError(f"{exc}: cabin badge relabel or cabin badge remove changes that") from exc
            print(f"enrolled a {badge.role.value} badge for {badge.label} in {state_dir}")
        elif args.badge_command == "relabel":
            badge = await registry.relabel(args.badge_id, args.label, now)
            print(f"relabelled the {badge.role.value} badge: now {badge.label}, in {state_dir}")
        else:
            badge = await registry.remove(args.badge_id, now)
            print(f"removed the {badge.role.value} badge of {badge.label} from {state_dir}")
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
    narrate = _Narrator(quiet=args.json)

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
        return EXIT_PIPE_CLOSED if narrate.closed else EXIT_OK

    if args.state_dir:
        return go(_new_or_existing_state_dir(Path(args.state_dir)))
    with tempfile.TemporaryDirectory(prefix="cabin-demo-") as tmp:
        return go(Path(tmp))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the station until SIGINT or SIGTERM; one station per state directory."""
    import asyncio

    from config.loader import vehicle_config_path
    from station.run import run_station
    from station.state_lock import StateDirLock
    from station.tools import simulator_imports

    if args.sim:
        with simulator_imports():  # before anything starts: without the extra, one line and nothing done
            import sim.crew  # noqa: F401
            import sim.rig  # noqa: F401
    if args.mobile and args.config is None:
        args.config = vehicle_config_path()
    config = _config(args, simulator=args.sim)
    on_board = config.station.mode == "on_board"
    if args.mobile and not on_board:
        raise StationError(f"--mobile runs a mobile unit's vehicle: {args.config} is a cabin's configuration "
                           "([station] mode is not \"on_board\")")
    if args.sim_secretary and not (args.sim and on_board):
        raise StationError("--sim-secretary is for a simulated vehicle: cabin run --sim --mobile --sim-secretary")
    patients = args.patients if args.patients is not None else (2 if on_board else 1)
    state_dir = _new_or_existing_state_dir(_state_dir(args, config))
    with StateDirLock(state_dir):  # before anything touches the directory, held until the station is gone
        return asyncio.run(run_station(config, state_dir, sim=args.sim, speed=args.speed, patients=patients,
                                       port=args.port, hub_port=args.hub_port, sim_gp=args.sim_gp,
                                       sim_secretary=args.sim_secretary))


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
    state_dir = _state_dir(args, config)
    _refuse_a_file(state_dir)
    found = diagnose(config, sim=args.sim, state_dir=state_dir)
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
            f"{verdict}: {detail}" + _last_error(row, detail))


def _last_error(row: dict[str, Any], detail: str) -> str:
    """The device's last error, unless the self-test's detail already says it."""
    error = row.get("last_error")
    return f"  (last error: {error})" if error and error not in detail else ""


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


class _Narrator:
    """Prints the demo's steps as they happen. When standard output's reader has gone (a closed pipe),
    the rest goes nowhere and the demo ends its consultation, leaving a cabin that needs no cleaning."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.closed = False

    def __call__(self, line: str) -> None:
        if self.quiet or self.closed:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            self.closed = True
            _stdout_to_nowhere()


def _stdout_to_nowhere() -> None:
    """Standard output's reader has gone: what is still buffered or written later is dropped, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _options_first(argv: Sequence[str]) -> str | None:
    """The one-line refusal of `cabin --state-dir DIR status`, with the command line in the right order."""
    if not argv or argv[0].split("=", 1)[0] not in COMMON_OPTIONS:
        return None
    import shlex

    at = next((i for i, word in enumerate(argv) if word in COMMANDS), None)
    if at is None:
        return f"cabin: {argv[0]} goes after the command, as in cabin status --state-dir DIR"
    if argv[at] == "decode":
        return f"cabin: cabin decode takes no {argv[0].split('=', 1)[0]}"
    words = argv[at:at + 2] if argv[at] in WITH_ACTIONS else argv[at:at + 1]
    reordered = ["cabin", *words, *argv[:at], *argv[at + len(words):]]
    return f"cabin: options go after the command: {shlex.join(reordered)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cabin` console script."""
    words = sys.argv[1:] if argv is None else list(argv)
    refusal = _options_first(words)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    args = _parser().parse_args(words)
    logs.configure(getattr(args, "verbose", False))
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe is told apart, not at exit
        return code
    except StationError as exc:
        _tell(exc)
        return EXIT_FAIL
    except BrokenPipeError:  # the reader of standard output has gone (`| head`): stop, as Unix tools do
        _stdout_to_nowhere()
        return EXIT_PIPE_CLOSED
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
