"""Prescription printing: layout time, bytes with a native or a raster QR code, the whole job.

(a) render: wall time of `render_prescription` for the sample prescription of the tests
    (medication, examinations and a referral letter: three documents), on an 80 mm TM-T88V
    (QR and Code 128 drawn by the printer) and on a 58 mm POS-5890 clone (both sent as raster
    images). Reference: a bare python-escpos Dummy writing the same text lines (reset, code
    page, one textln per line, a cut per document): the library's own floor for that text.
    Runs alternate with the reference; medians. Target: < 20 ms per prescription, absolute.
(b) bytes: the job's size with the native QR command divided by its size with the QR sent as
    a raster image (same printer, same layout, the barcode native in both); and the same for
    the QR code alone (python-escpos `qr(native=True)` against `qr(native=False)`, 5-dot modules).
(c) job: one prescription through the PrintService (SQLite job record with synchronous=FULL,
    status before and after, over TCP to the simulated printer), against a bare send of the
    same bytes on a fresh connection. Information only: it is dominated by fsyncs.
(d) the simulated printer: decoding the job's bytes, and drawing one receipt to PNG (info).

    python -m bench.print [--runs 200] [--jobs 30] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from bench.common import (
    Figure,
    measure_and_report,
    median,
    parser,
    progress,
    ratio,
)
from config.schema import PrinterConfig
from printer.document import MedicationLine, PatientIdentity, Prescriber, Prescription, Sex
from printer.escpos_commands import codepage_table
from printer.layout import LayoutOptions, layout_options, render_prescription
from printer.service import PrintService
from printer.transport import NetworkTransport
from runtime.clock import PARIS, Clock
from runtime.storage import Database
from sim.preview import ReceiptRenderer
from sim.printer import SimPrinter
from sim.receipt import decode_receipts

NAME = "print"
TARGET_MS = 20.0
ISSUED = datetime(2025, 1, 14, 10, 32, tzinfo=PARIS)


def sample() -> Prescription:
    """The prescription the printer tests use: accents everywhere, three documents."""
    return Prescription(
        number="NAN231-20250114-7KQ3PZ2M",
        prescriber=Prescriber("Dr Hélène Lefèvre", "Médecin généraliste", "10101234567",
                              "12 rue de l'Église\n77370 Nangis", "01 64 00 00 00"),
        patient=PatientIdentity("Françoise Bérénice Dupré", Sex.FEMALE, date(1950, 3, 2), 61.5),
        site_name="Nangis", issued_at=ISSUED,
        medications=(
            MedicationLine("Amoxicilline 1 g, comprimé pelliculé",
                           "1 comprimé matin et soir pendant les repas, avec un grand verre d'eau", "7 jours",
                           "1 boîte de 14"),
            MedicationLine("Paracétamol 1 g", "1 comprimé si fièvre, 3 par jour au plus", "5 jours", "1 boîte",
                           renewals=1),
        ),
        examinations=("NFS, CRP", "Radiographie du thorax de face"),
        referral="Avis cardiologique sous un mois",
    )


def floor_render(texts: list[str], options: LayoutOptions) -> bytes:
    """The reference: the same lines through a bare python-escpos Dummy, no layout at all."""
    out = bytearray()
    for text in texts:
        p = Dummy(profile=options.profile)
        p.hw("INIT")
        p.charcode(options.codepage)
        for line in text.splitlines():
            p.textln(line)
        p.cut()
        out += p.output
    return bytes(out)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def render_figure(label: str, options: LayoutOptions, runs: int) -> Figure:
    """Median render time against the bare-library floor for the same text, alternating."""
    rx = sample()
    texts = [r.text for r in decode_receipts(render_prescription(rx, options), codepage_table(options.profile))]
    render_prescription(rx, options)  # warm caches (profiles, fonts, qrcode tables)
    floor_render(texts, options)
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(runs):
        ours.append(_timed(lambda: render_prescription(rx, options)))
        floor.append(_timed(lambda: floor_render(texts, options)))
    value, reference = median(ours), median(floor)
    progress(f"  {label}: {value:.2f} ms (floor {reference:.2f} ms, max {max(ours):.2f} ms)")
    return Figure(label, round(value, 3), "ms", round(reference, 3), ratio(value, reference),
                  f"value < {TARGET_MS:g} ms")


def bytes_figures() -> list[Figure]:
    """Job bytes with the native QR over job bytes with a raster QR, same printer otherwise."""
    options = layout_options(PrinterConfig())
    native = len(render_prescription(sample(), options))
    raster = len(render_prescription(sample(), replace(options, native_qr=False)))
    alone = {}
    for native_qr in (True, False):
        p = Dummy(profile=options.profile)
        p.qr(sample().number, native=native_qr, size=5, ec=QR_ECLEVEL_M)
        alone[native_qr] = len(p.output)
    progress(f"  bytes: {native} with GS ( k, {raster} with a raster QR; the QR alone {alone[True]} and {alone[False]}")
    return [
        Figure("bytes_native_qr", native, "bytes", raster, ratio(native, raster), "< 0.5"),
        Figure("bytes_qr_alone", alone[True], "bytes", alone[False], ratio(alone[True], alone[False]), "info"),
    ]


async def job_figure(jobs: int) -> Figure:
    """Median time of a whole print job through the service, against a bare send of its bytes."""
    sim = SimPrinter()
    await sim.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-print-") as tmp:
            db = Database(Path(tmp))
            await db.start()
            cfg = PrinterConfig(port=sim.port)
            service = PrintService(db, NetworkTransport(sim.host, sim.port, 5.0), cfg, Clock())
            await service.start()
            payload = render_prescription(sample(), cfg)
            bare = NetworkTransport(sim.host, sim.port, 5.0)
            ours: list[float] = []
            floor: list[float] = []
            try:
                for i in range(jobs):
                    rx = replace(sample(), number=f"NAN231-20250114-B{i:07d}")
                    started = time.perf_counter()
                    outcome = await service.print_prescription(f"bench-{i}", rx)
                    ours.append((time.perf_counter() - started) * 1000)
                    if not outcome.printed:
                        raise RuntimeError(f"job {i} did not print: {outcome.error}")
                    started = time.perf_counter()
                    await bare.send(payload)
                    floor.append((time.perf_counter() - started) * 1000)
            finally:
                await service.stop()
                await db.stop()
    finally:
        await sim.stop()
    value, reference = median(ours), median(floor)
    progress(f"  job: {value:.2f} ms through the service, {reference:.2f} ms bare send")
    return Figure("print_job", round(value, 3), "ms", round(reference, 3), ratio(value, reference), "info")


def sim_figures(runs: int) -> list[Figure]:
    """The simulated printer's cost: decoding a job, drawing one receipt."""
    options = layout_options(PrinterConfig())
    data = render_prescription(sample(), options)
    table = codepage_table(options.profile)
    receipt = decode_receipts(data, table)[0]
    renderer = ReceiptRenderer(options.dots)
    decode_ms = median([_timed(lambda: decode_receipts(data, table)) for _ in range(runs)])
    png_ms = median([_timed(lambda: renderer.image(receipt)) for _ in range(max(1, runs // 10))])
    progress(f"  simulated printer: decode {decode_ms:.2f} ms per job, draw {png_ms:.2f} ms per receipt")
    return [
        Figure("sim_decode_job", round(decode_ms, 3), "ms", None, None, "info"),
        Figure("sim_draw_receipt", round(png_ms, 3), "ms", None, None, "info"),
    ]


def run(runs: int, jobs: int) -> list[Figure]:
    """Measure every figure."""
    progress(f"(a) render, {runs} runs each, alternating with the bare-library floor")
    figures = [
        render_figure("render_80mm_native", layout_options(PrinterConfig()), runs),
        render_figure("render_58mm_raster",
                      layout_options(PrinterConfig(profile="POS-5890", paper_width_mm=58)), runs),
    ]
    progress("(b) bytes")
    figures += bytes_figures()
    progress(f"(c) {jobs} whole jobs over TCP")
    figures.append(asyncio.run(job_figure(jobs)))
    progress("(d) the simulated printer")
    figures += sim_figures(runs)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Prescription printing: render time, native versus raster QR bytes, a whole job.")
    p.add_argument("--runs", type=int, default=200, help="render runs of each kind (default 200)")
    p.add_argument("--jobs", type=int, default=30, help="print jobs through the service (default 30)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.jobs < 1:
        p.error("need --runs >= 1 and --jobs >= 1")
    return measure_and_report(NAME, lambda: run(args.runs, args.jobs), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
