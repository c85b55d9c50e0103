"""`cabin print-test [--sim] [--out FILE]`: a test page and a sample prescription, for the technician.

Without options both go to the configured printer, with its status checked before and after.
`--sim` prints them on a simulated network printer of the same profile and paper instead and
says where the PNG of each receipt is; `--out FILE` writes the raw ESC/POS bytes to FILE
("-" for standard output) and prints nothing unless `--sim` is given too. Nothing is recorded
as a print job: this is not a patient's prescription, and the sample says SPÉCIMEN.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from runtime.errors import StationError

if TYPE_CHECKING:
    from config.schema import CabinConfig, PrinterConfig
    from printer.status import PrinterStatus
    from printer.transport import PrinterTransport

EXIT_OK = 0
# The parser class of the `cabin` command (station/cli.py), which its subcommands' parsers share.
P = TypeVar("P", bound=argparse.ArgumentParser)


def add_parser(subparsers: argparse._SubParsersAction[P],
               parents: Sequence[P] = ()) -> P:
    """Add the `print-test` command to the `cabin` command's subparsers."""
    parser = subparsers.add_parser(
        "print-test", parents=list(parents), help="print a test page and a sample prescription",
        description="Print a test page and a specimen prescription on the cabin's printer.",
    )
    parser.add_argument("--sim", action="store_true", help="on a simulated printer; say where the PNGs are")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the raw ESC/POS bytes to FILE (- for stdout)")
    return parser


@dataclass(frozen=True)
class TestPrint:
    """The bytes of a test print: the test page, then each document of the sample prescription."""

    test_page: bytes
    documents: tuple[bytes, ...]

    @property
    def data(self) -> bytes:
        """Everything, in printing order."""
        return self.test_page + b"".join(self.documents)


def build(config: CabinConfig) -> TestPrint:
    """Lay out the test page and the sample prescription for the configured printer."""
    from printer.layout import layout_options, render_documents
    from printer.specimen import render_test_page, sample_prescription
    from runtime.clock import Clock

    options = layout_options(config.printer)
    now = Clock().now()
    rx = sample_prescription(config.station.site, config.place().name, now)
    return TestPrint(render_test_page(options, config.station.site, now), tuple(render_documents(rx, options)))


async def send(transport: PrinterTransport, job: TestPrint) -> PrinterStatus:
    """Check the printer, send the bytes, and return its status afterwards; StationError if it is not ready."""
    from printer.service import DURING, problem_after

    before = await transport.status()
    if before.problem is not None:
        raise StationError(f"print-test: printer not ready: {before.problem}")
    await transport.send(job.data)
    after = await transport.status()
    code = problem_after(after)
    if code is not None:
        raise StationError(f"print-test: {DURING[code]}")
    return after


async def print_on_sim(printer: PrinterConfig, job: TestPrint, png_dir: Path) -> list[Path]:
    """Print `job` on a simulated printer of the same profile and paper; the PNGs it drew."""
    from printer.transport import NetworkTransport
    from sim.printer import SimPrinter

    sim = SimPrinter(profile=printer.profile, paper_width_mm=printer.paper_width_mm, png_dir=png_dir)
    await sim.start()
    try:
        await send(NetworkTransport(sim.host, sim.port, printer.timeout_s), job)
        sim.tear_off()  # a printer without a cutter leaves everything on one strip
        return await sim.drawn()
    finally:
        await sim.stop()


def _write(out: Path, data: bytes) -> None:
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise StationError(f"cannot write {out}: {exc.strerror}") from exc


def cmd_print_test(args: argparse.Namespace) -> int:
    """Run `cabin print-test`: print, simulate or write the bytes; one line per outcome."""
    import asyncio
    import tempfile

    from config.loader import ConfigError, load_config
    from hub.cli import refuse_other_kind
    from station.tools import simulator_imports

    if args.sim:
        with simulator_imports():  # before anything is made: without the extra, one line and nothing done
            import sim.printer  # noqa: F401
    path = getattr(args, "config", None)
    try:
        config = load_config(path, simulator=args.sim)
    except ConfigError:
        refuse_other_kind(path, "cabin")
        raise
    job = build(config)
    say = (lambda line: print(line, file=sys.stderr)) if args.out is not None and str(args.out) == "-" else print
    if args.out is not None:
        _write(args.out, job.data)
        if str(args.out) != "-":
            say(f"wrote {len(job.data)} bytes to {args.out}: the test page and a sample prescription "
                f"of {len(job.documents)} documents")
    if args.sim:
        png_dir = Path(tempfile.mkdtemp(prefix="cabin-print-test-"))
        pngs = asyncio.run(print_on_sim(config.printer, job, png_dir))
        say(f"printed on a simulated {config.printer.profile} ({config.printer.paper_width_mm} mm); receipts drawn:")
        for path in pngs:
            say(f"  {path}")
        return EXIT_OK
    if args.out is None:
        _print_for_real(config, job)
    return EXIT_OK


def _print_for_real(config: CabinConfig, job: TestPrint) -> None:
    import asyncio

    from printer.transport import make_transport

    status = asyncio.run(send(make_transport(config.printer), job))
    print(f"printed the test page and a sample prescription ({len(job.documents)} documents, "
          f"{len(job.data)} bytes) on the {config.printer.backend} printer"
          + ("; paper low" if status.paper_near_end else ""))
