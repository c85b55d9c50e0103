"""`cabin print-test`: the raw bytes, the simulated printer's PNGs, the configured printer's status."""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

import pytest

from config.loader import default_config_path, load_config
from printer.escpos_commands import codepage_table
from printer.transport import NetworkTransport
from runtime.errors import StationError
from sim.printer import SimPrinter
from sim.receipt import decode_receipts
from station import print_test


def _run(*argv: str) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path)
    parser = argparse.ArgumentParser(prog="cabin")
    print_test.add_parser(parser.add_subparsers(dest="command", required=True), [common])
    return print_test.cmd_print_test(parser.parse_args(["print-test", *argv]))


def test_out_writes_the_test_page_and_a_specimen_prescription(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "print-test.bin"
    assert _run("--out", str(out)) == 0
    receipts = decode_receipts(out.read_bytes(), codepage_table("TM-T88V"))
    assert len(receipts) == 4 and all(r.cut == "full" for r in receipts)
    assert "PAGE DE TEST" in receipts[0].text and "Page de code : CP858" in receipts[0].text
    numbers = {qr.payload for r in receipts[1:] for qr in r.qr_codes}
    assert len(numbers) == 1 and numbers.pop().startswith("NAN231-")
    assert all("SPÉCIMEN - SANS VALEUR" in r.text for r in receipts[1:])
    assert capsys.readouterr().out.startswith(f"wrote {out.stat().st_size} bytes to {out}")


def test_sim_says_where_each_receipt_png_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert _run("--sim") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "printed on a simulated TM-T88V (80 mm); receipts drawn:"
    pngs = [Path(line.strip()) for line in lines[1:]]
    assert len(pngs) == 4 and all(p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert pngs[0].parent.parent == tmp_path


def test_sim_without_a_cutter_draws_one_strip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = tmp_path / "cabin.toml"
    text = default_config_path().read_text(encoding="utf-8")
    config.write_text(text.replace('profile = "TM-T88V"', 'profile = "POS-5890"').replace(
        "paper_width_mm = 80", "paper_width_mm = 58"), encoding="utf-8")
    assert _run("--sim", "--config", str(config)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "printed on a simulated POS-5890 (58 mm); receipts drawn:" and len(lines) == 2


def test_an_unreachable_printer_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "cabin.toml"
    config.write_text(default_config_path().read_text(encoding="utf-8").replace("port = 9100", f"port = {port}"),
                      encoding="utf-8")
    with pytest.raises(StationError, match="^print-test: printer not ready: printer unreachable$"):
        _run("--config", str(config))


async def test_send_checks_the_printer_before_and_after() -> None:
    sim = SimPrinter()
    await sim.start()
    try:
        transport = NetworkTransport(sim.host, sim.port, 2.0)
        job = print_test.build(load_config())
        assert (await print_test.send(transport, job)).problem is None
        assert len(sim.receipts) == 4
        sim.paper_out = True
        with pytest.raises(StationError, match="printer not ready: paper out"):
            await print_test.send(transport, job)
        sim.paper_out, sim.paper_remaining = False, 500
        with pytest.raises(StationError, match="paper ran out during printing"):
            await print_test.send(transport, job)
    finally:
        await sim.stop()
