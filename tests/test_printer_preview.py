"""Receipt PNGs: what a person sees, read back with OpenCV (QR) and by measuring the bars (Code 128)."""

from __future__ import annotations

from itertools import groupby

import cv2
import numpy as np
import pytest
from PIL import Image

from config.schema import PrinterConfig
from printer.escpos_commands import codepage_table
from printer.layout import BARCODE_MODULE_DOTS, layout_options, render_documents
from printer.symbols import code128_modules
from sim.preview import MARGIN, ReceiptRenderer
from sim.receipt import Align, Barcode, Raster, Receipt, Run, Style, TextLine, decode_receipts
from tests.test_printer_document import sample_prescription


def _modules(row: np.ndarray, module: int) -> str:
    """Bars and spaces of one pixel row, from the first bar to the last, `module` pixels each."""
    dark = "".join("1" if value < 128 else "0" for value in row).strip("0")
    return "".join(bit * (len(list(run)) // module) for bit, run in groupby(dark))


def _barcode_row(image: Image.Image, top: int, height: int) -> np.ndarray:
    pixels = np.asarray(image)
    return pixels[top + height // 2]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("profile", "width"), [("TM-T88V", 80), ("POS-5890", 58)])
def test_qr_code_and_barcode_read_back_from_the_png(profile: str, width: int) -> None:
    rx = sample_prescription()
    cfg = PrinterConfig(profile=profile, paper_width_mm=width)
    options = layout_options(cfg)
    receipt = decode_receipts(render_documents(rx, cfg)[0], codepage_table(profile))[0]
    image = ReceiptRenderer(options.dots).image(receipt)
    pixels = np.asarray(image)
    assert image.width == options.dots + 2 * MARGIN
    assert cv2.QRCodeDetector().detectAndDecode(pixels)[0] == rx.number  # native or raster, same answer
    # the bars: find the first row that is mostly bars, then measure it
    expected = code128_modules(b"{B" + rx.prescriber.rpps.encode())
    rows = [y for y in range(image.height) if _modules(pixels[y], BARCODE_MODULE_DOTS) == expected]
    assert len(rows) >= 40  # 48 dots tall, minus nothing: every row of the symbol reads the same


def test_text_is_placed_on_the_character_grid_with_alignment_and_bold() -> None:
    renderer = ReceiptRenderer(dots=576)
    line = TextLine((Run("ABCD", Style()),), Align.CENTER)
    bold = TextLine((Run("ABCD", Style(bold=True)),), Align.RIGHT)
    tall = TextLine((Run("AB", Style(width=2, height=2)),), Align.LEFT)
    image = np.asarray(renderer.image(Receipt((line, bold, tall), cut="full")))
    ink = image < 128
    row_height = 24 + 6
    centred = ink[MARGIN : MARGIN + row_height, MARGIN:-MARGIN]
    columns = np.flatnonzero(centred.any(axis=0))
    assert 576 // 2 - 24 <= columns[0] and columns[-1] < 576 // 2 + 24  # 4 cells of 12 around the middle
    right = ink[MARGIN + row_height : MARGIN + 2 * row_height, MARGIN:-MARGIN]
    assert np.flatnonzero(right.any(axis=0))[0] >= 576 - 48
    assert right.sum() > centred.sum() * 1.3  # double-struck
    big = ink[MARGIN + 2 * row_height :, MARGIN:-MARGIN]
    assert np.flatnonzero(big.any(axis=1)).size >= 25 and np.flatnonzero(big.any(axis=0))[-1] > 24  # 2 x 2 cells


def test_native_barcode_with_human_readable_text_and_a_raster_image() -> None:
    barcode = Barcode("CODE128", b"{BTEST", "TEST", height=40, module=2, hri="below", align=Align.LEFT)
    raster = Raster(16, 2, b"\xff\x00\x00\xff", Align.RIGHT, scale_x=2, scale_y=3)
    image = ReceiptRenderer(dots=384).image(Receipt((barcode, raster)))
    pixels = np.asarray(image)
    assert _modules(_barcode_row(image, MARGIN, 40)[MARGIN:], 2) == code128_modules(b"{BTEST")
    below = pixels[MARGIN + 40 : MARGIN + 40 + 30] < 128
    assert below.any()  # the HRI text
    top = MARGIN + 40 + 30
    assert (pixels[top : top + 3, MARGIN + 384 - 32 : MARGIN + 384 - 16] < 128).all()  # first byte, scaled
    assert (pixels[top + 3 : top + 6, MARGIN + 384 - 16 : MARGIN + 384] < 128).all()  # last byte, second row
