"""Draw a decoded receipt as the paper would look, for a person to check (PNG through Pillow).

Text sits on the printer's character grid (font A 12 x 24 dots, font B 9 x 17) in DejaVu Sans
Mono, the font python-barcode ships, so it is always there; bold is drawn twice one dot apart
as a thermal head double-strikes; size multipliers stretch the cell. QR codes and barcodes are
drawn from their content with the same encoders the layout uses for its image fallback, so a
scanner (or OpenCV in the tests) reads the picture back.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from printer.errors import LayoutError
from printer.symbols import bars_image, code128_modules, qr_image
from sim.receipt import Align, Barcode, Block, Feed, QrCode, Raster, Receipt, Run, Style, TextLine

CELLS: dict[int, tuple[int, int]] = {0: (12, 24), 1: (9, 17)}  # font A, font B
FONT_PX = {0: 12 / 0.602, 1: 9 / 0.602}  # DejaVu Sans Mono advances 0.602 em: cells of 12 and 9 dots
LINE_GAP = 6  # the default line spacing (about 30 dots) minus the 24-dot cell
MARGIN = 24
QR_QUIET_MODULES = 2
SAFE_PATTERN_PX = 6


def _font_path() -> Path:
    return Path(str(importlib.resources.files("barcode") / "fonts" / "DejaVuSansMono.ttf"))


@dataclass(frozen=True)
class _Placed:
    image: Image.Image
    align: Align


class ReceiptRenderer:
    """Draws receipts `dots` wide (576 for 80 mm paper at 203 dpi, 384 for 58 mm)."""

    def __init__(self, dots: int = 576, font_path: Path | None = None) -> None:
        self.dots = dots
        path = str(font_path or _font_path())
        self._fonts = {font: ImageFont.truetype(path, size) for font, size in FONT_PX.items()}

    def image(self, receipt: Receipt) -> Image.Image:
        """The receipt as a greyscale image, with paper margins and a dashed line where it was cut."""
        placed = [self._block(block) for block in receipt.blocks]
        height = sum(p.image.height for p in placed) + 2 * MARGIN
        page = Image.new("L", (self.dots + 2 * MARGIN, height), 255)
        y = MARGIN
        for item in placed:
            free = self.dots - item.image.width
            x = {Align.LEFT: 0, Align.CENTER: free // 2, Align.RIGHT: free}[item.align]
            page.paste(item.image, (MARGIN + max(0, x), y))
            y += item.image.height
        if receipt.cut is not None:
            draw = ImageDraw.Draw(page)
            for x in range(0, page.width, 2 * SAFE_PATTERN_PX):
                draw.line([(x, height - 2), (x + SAFE_PATTERN_PX, height - 2)], fill=128)
        return page

    def save_png(self, receipt: Receipt, path: Path) -> Path:
        """Write the receipt's image to `path` (PNG) and return the path."""
        self.image(receipt).save(path, format="PNG")
        return path

    def _block(self, block: Block) -> _Placed:
        if isinstance(block, TextLine):
            return _Placed(self._line(block), block.align)
        if isinstance(block, QrCode):
            return _Placed(qr_image(block.payload, block.ec, block.module, QR_QUIET_MODULES), block.align)
        if isinstance(block, Barcode):
            return _Placed(self._barcode(block), block.align)
        if isinstance(block, Raster):
            return _Placed(_raster(block), block.align)
        assert isinstance(block, Feed)
        return _Placed(Image.new("L", (1, max(1, block.dots)), 255), Align.LEFT)

    def _run(self, run: Run) -> Image.Image:
        style = run.style
        cell_w, cell_h = CELLS.get(style.font, CELLS[0])
        ink, paper = (255, 0) if style.invert else (0, 255)
        small = Image.new("L", (max(1, len(run.text) * cell_w), cell_h), paper)
        draw = ImageDraw.Draw(small)
        font = self._fonts.get(style.font, self._fonts[0])
        for offset in (0, 1) if style.bold else (0,):
            draw.text((offset, 1), run.text, font=font, fill=ink)
        if style.underline:
            draw.rectangle([(0, cell_h - style.underline), (small.width, cell_h - 1)], fill=ink)
        size = (small.width * style.width, cell_h * style.height)
        return small.resize(size, Image.Resampling.NEAREST) if size != small.size else small

    def _line(self, line: TextLine) -> Image.Image:
        parts = [self._run(run) for run in line.runs]
        cell_h = max((p.height for p in parts), default=CELLS[0][1])
        width = min(self.dots, sum(p.width for p in parts)) or 1
        out = Image.new("L", (width, cell_h + LINE_GAP), 255)
        x = 0
        for part in parts:
            out.paste(part, (x, cell_h - part.height))  # characters share a baseline
            x += part.width
        return out

    def _barcode(self, barcode: Barcode) -> Image.Image:
        try:
            modules = code128_modules(barcode.data) if barcode.symbology == "CODE128" else None
        except LayoutError:
            modules = None
        if modules is None:  # a symbology the station does not use: show where it is
            box = Image.new("L", (self.dots // 2, barcode.height), 200)
            ImageDraw.Draw(box).text((4, 4), f"{barcode.symbology} {barcode.text}", font=self._fonts[0], fill=0)
            return box
        bars = bars_image(modules, barcode.module, barcode.height)
        if barcode.hri == "none":
            return bars
        text = self._line(TextLine((Run(barcode.text, Style()),), Align.CENTER))
        above, below = barcode.hri in ("above", "both"), barcode.hri in ("below", "both")
        out = Image.new("L", (max(bars.width, text.width), bars.height + text.height * (above + below)), 255)
        out.paste(bars, ((out.width - bars.width) // 2, text.height if above else 0))
        if above:
            out.paste(text, ((out.width - text.width) // 2, 0))
        if below:
            out.paste(text, ((out.width - text.width) // 2, out.height - text.height))
        return out


def _raster(raster: Raster) -> Image.Image:
    """Unpack 1-bit rows (1 = black) into a greyscale image, enlarged by the command's scale."""
    stride = (raster.width + 7) // 8
    data = raster.data[: stride * raster.height].ljust(stride * raster.height, b"\x00")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8).reshape(raster.height, stride), axis=1)
    pixels = (255 - bits[:, : raster.width] * 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if raster.scale_x != 1 or raster.scale_y != 1:
        size = (raster.width * raster.scale_x, raster.height * raster.scale_y)
        image = image.resize(size, Image.Resampling.NEAREST)
    return image
