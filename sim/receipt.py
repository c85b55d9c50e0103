"""Read an ESC/POS byte stream back into what a receipt printer prints (pure, no I/O).

Two layers, like a wire protocol: `item_length` frames the stream (the length of the next
command or text run, or None for "need more bytes"), and `ReceiptDecoder` interprets the
items with the printer's state (code page, bold, size, alignment, QR and barcode settings)
into `Receipt`s of text lines, QR codes, barcodes, images and feeds, one per cut.
Command formats follow Epson's ESC/POS reference; the code page numbers of `ESC t` come
from the printer's python-escpos profile, since they differ between makers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from printer.escpos_commands import DLE, ESC, GS, LF, codepage_table, command_name, iter_items

HT_STOP = 8
DEFAULT_LINE_DOTS = 30  # ESC 2: about 1/6 inch at 180-203 dpi
QR_EC = {48: "L", 49: "M", 50: "Q", 51: "H"}
# GS k m: function A (m 0-6) and B (m 65-73) share one order of symbologies.
SYMBOLOGIES = ("UPC-A", "UPC-E", "EAN13", "EAN8", "CODE39", "ITF", "CODABAR", "CODE93", "CODE128")
HRI = ("none", "above", "below", "both")


class Align(StrEnum):
    """Horizontal justification set by ESC a."""

    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True)
class Style:
    """Character style: ESC E/G bold, ESC - underline, GS ! or ESC ! size, ESC M font, GS B reverse."""

    bold: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    font: int = 0
    invert: bool = False


@dataclass(frozen=True)
class Run:
    """Text printed in one style."""

    text: str
    style: Style


@dataclass(frozen=True)
class TextLine:
    """One printed line of text (possibly empty), with its justification."""

    runs: tuple[Run, ...]
    align: Align

    @property
    def text(self) -> str:
        """The characters of the line."""
        return "".join(run.text for run in self.runs)

    @property
    def height(self) -> int:
        """The tallest character's height multiplier (1 for an empty line)."""
        return max((run.style.height for run in self.runs), default=1)


@dataclass(frozen=True)
class QrCode:
    """A QR code drawn by the printer (GS ( k, cn 49)."""

    payload: str
    module: int
    ec: str
    model: int
    align: Align


@dataclass(frozen=True)
class Barcode:
    """A 1D barcode drawn by the printer (GS k); `text` is the content with code-set marks removed."""

    symbology: str
    data: bytes
    text: str
    height: int
    module: int
    hri: str
    align: Align


@dataclass(frozen=True)
class Raster:
    """A bit image: rows of `width` dots, packed 8 per byte (MSB first, 1 = black)."""

    width: int
    height: int
    data: bytes
    align: Align
    scale_x: int = 1
    scale_y: int = 1


@dataclass(frozen=True)
class Feed:
    """Blank paper fed without printing, in dots."""

    dots: int


Block = TextLine | QrCode | Barcode | Raster | Feed


@dataclass(frozen=True)
class Receipt:
    """Everything printed between two cuts; `cut` is None for a receipt left on the printer."""

    blocks: tuple[Block, ...]
    cut: str | None = None
    unknown: tuple[str, ...] = ()

    @property
    def lines(self) -> list[TextLine]:
        """The text lines, in order."""
        return [b for b in self.blocks if isinstance(b, TextLine)]

    @property
    def text(self) -> str:
        """The printed text, one line per line."""
        return "".join(line.text + "\n" for line in self.lines)

    def styled(self, **style: object) -> list[str]:
        """The texts of the runs whose style has every attribute given (e.g. bold=True)."""
        return [
            run.text for line in self.lines for run in line.runs
            if run.text.strip() and all(getattr(run.style, k) == v for k, v in style.items())
        ]

    @property
    def qr_codes(self) -> list[QrCode]:
        """The native QR codes."""
        return [b for b in self.blocks if isinstance(b, QrCode)]

    @property
    def barcodes(self) -> list[Barcode]:
        """The native barcodes."""
        return [b for b in self.blocks if isinstance(b, Barcode)]

    @property
    def images(self) -> list[Raster]:
        """The bit images."""
        return [b for b in self.blocks if isinstance(b, Raster)]


def code128_text(data: bytes) -> str:
    """The content of GS k CODE128 data: `{A`/`{B` select a code set, `{C` pairs digits, `{{` is a brace."""
    out: list[str] = []
    codeset, i = "B", 0
    while i < len(data):
        if data[i] == 0x7B and i + 1 < len(data):  # "{"
            mark = chr(data[i + 1])
            if mark in "ABC":
                codeset = mark
            elif mark == "{":
                out.append("{")
            i += 2  # other marks (FNC1-4, SHIFT) carry no character
            continue
        out.append(f"{data[i]:02d}" if codeset == "C" else chr(data[i]))
        i += 1
    return "".join(out)


@dataclass
class _State:
    """What ESC @ resets."""

    encoding: str
    style: Style = field(default_factory=Style)
    align: Align = Align.LEFT
    line_dots: int = DEFAULT_LINE_DOTS
    qr_model: int = 2
    qr_module: int = 3
    qr_ec: str = "L"
    qr_data: bytes = b""
    bar_height: int = 162
    bar_module: int = 3
    bar_hri: str = "none"
    graphics: Raster | None = None


class ReceiptDecoder:
    """Interprets framed items; `feed_item` returns a finished Receipt at each cut."""

    def __init__(self, codepages: dict[int, str] | None = None) -> None:
        self._pages = codepages if codepages is not None else codepage_table()
        self._reset()
        self._blocks: list[Block] = []
        self._runs: list[Run] = []
        self._line_align = Align.LEFT
        self._unknown: list[str] = []

    def _reset(self) -> None:
        self.state = _State(encoding=self._pages.get(0, "cp437"))

    @property
    def pending(self) -> Receipt:
        """What is printed so far since the last cut (the current line included)."""
        blocks = [*self._blocks, TextLine(tuple(self._runs), self._line_align)] if self._runs else self._blocks
        return Receipt(tuple(blocks), None, tuple(self._unknown))

    def clear(self) -> None:
        """Forget the receipt in progress (a buffer clear); settings stay."""
        self._blocks, self._runs, self._unknown = [], [], []

    def feed_item(self, item: bytes) -> Receipt | None:
        """Apply one item (as framed by item_length); a cut returns the finished receipt."""
        first = item[0]
        if first >= 0x20:
            self._text(item)
        elif first == LF:
            self._end_line()
        elif first == 0x09:
            self._text(b" " * (HT_STOP - len(self._line_text()) % HT_STOP))
        elif first == ESC:
            return self._esc(item)
        elif first == GS:
            return self._gs(item)
        elif first == DLE:
            pass  # real-time commands are answered by the device, not printed
        return None

    def _line_text(self) -> str:
        return "".join(run.text for run in self._runs)

    def _text(self, raw: bytes) -> None:
        if not self._runs:
            self._line_align = self.state.align
        text = raw.decode(self.state.encoding, errors="replace")
        style = self.state.style
        if self._runs and self._runs[-1].style == style:
            self._runs[-1] = Run(self._runs[-1].text + text, style)
        else:
            self._runs.append(Run(text, style))

    def _end_line(self) -> None:
        align = self._line_align if self._runs else self.state.align
        self._blocks.append(TextLine(tuple(self._runs), align))
        self._runs = []

    def _flush_line(self) -> None:
        if self._runs:
            self._end_line()

    def _add(self, block: Block) -> None:
        self._flush_line()
        self._blocks.append(block)

    def _set_style(self, **changes: object) -> None:
        self.state.style = replace(self.state.style, **changes)  # type: ignore[arg-type]

    def _esc(self, item: bytes) -> Receipt | None:
        cmd = item[1] if len(item) > 1 else 0
        arg = item[2] if len(item) > 2 else 0
        if cmd in (ord("i"), ord("m")):  # the older one-byte full and partial cuts
            return self._cut("full" if cmd == ord("i") else "partial")
        if cmd == ord("@"):
            self._flush_line()
            self._reset()
        elif cmd == ord("t"):
            self.state.encoding = self._pages.get(arg, self.state.encoding)
        elif cmd in (ord("E"), ord("G")):
            self._set_style(bold=bool(arg & 1))
        elif cmd == ord("-"):
            self._set_style(underline=arg % 48 if arg >= 48 else arg)
        elif cmd == ord("M"):
            self._set_style(font=arg % 48 if arg >= 48 else arg)
        elif cmd == ord("!"):
            self._set_style(font=arg & 1, bold=bool(arg & 8), height=2 if arg & 16 else 1,
                            width=2 if arg & 32 else 1, underline=1 if arg & 128 else 0)
        elif cmd == ord("a"):
            self.state.align = (Align.LEFT, Align.CENTER, Align.RIGHT)[min(arg % 48, 2)]
        elif cmd == ord("d"):
            self._flush_line()
            self._blocks.append(Feed(arg * self.state.line_dots))
        elif cmd == ord("J"):
            self._flush_line()
            self._blocks.append(Feed(arg))
        elif cmd == ord("2"):
            self.state.line_dots = DEFAULT_LINE_DOTS
        elif cmd == ord("3"):
            self.state.line_dots = arg
        elif cmd == ord("*"):
            self._add(_column_image(item, self.state.align))
        else:
            self._unknown.append(command_name(item))
        return None

    def _gs(self, item: bytes) -> Receipt | None:
        cmd = item[1] if len(item) > 1 else 0
        arg = item[2] if len(item) > 2 else 0
        if cmd == ord("V"):
            return self._cut("partial" if arg in (1, 49, 66, 98, 104) else "full")
        if cmd == ord("!"):
            self._set_style(width=(arg >> 4) + 1, height=(arg & 0x0F) + 1)
        elif cmd == ord("B"):
            self._set_style(invert=bool(arg & 1))
        elif cmd == ord("h"):
            self.state.bar_height = arg
        elif cmd == ord("w"):
            self.state.bar_module = arg
        elif cmd == ord("H") and (arg < len(HRI) or 48 <= arg < 48 + len(HRI)):
            self.state.bar_hri = HRI[arg % 48]
        elif cmd == ord("k"):
            self._barcode(item)
        elif cmd == ord("v"):
            self._add(_raster_image(item, self.state.align))
        elif cmd == ord("(") and arg == ord("k") and len(item) >= 7:
            self._two_d(item)
        elif cmd == ord("(") and arg == ord("L") and len(item) >= 7:
            self._graphics(item)
        elif cmd != ord("f"):  # GS f (HRI font) changes nothing we draw
            self._unknown.append(command_name(item))
        return None

    def _cut(self, kind: str) -> Receipt:
        self._flush_line()
        receipt = Receipt(tuple(self._blocks), kind, tuple(self._unknown))
        self.clear()
        return receipt

    def _barcode(self, item: bytes) -> None:
        m = item[2]
        if m >= 65:
            index, data = m - 65, item[4:]
        else:
            index, data = m, item[3:-1]
        symbology = SYMBOLOGIES[index] if index < len(SYMBOLOGIES) else f"type {m}"
        text = code128_text(data) if symbology == "CODE128" else data.decode("ascii", errors="replace")
        s = self.state
        self._add(Barcode(symbology, data, text, s.bar_height, s.bar_module, s.bar_hri, s.align))

    def _two_d(self, item: bytes) -> None:
        cn, fn, params = item[5], item[6], item[7:]
        if cn != 49:  # PDF417 and other symbols: not used by the station
            self._unknown.append(command_name(item))
            return
        s = self.state
        if fn == 65 and params:
            s.qr_model = {49: 1, 50: 2, 51: 3}.get(params[0], 2)
        elif fn == 67 and params:
            s.qr_module = params[0]
        elif fn == 69 and params:
            s.qr_ec = QR_EC.get(params[0], "L")
        elif fn == 80:
            s.qr_data = params[1:]
        elif fn == 81:
            payload = s.qr_data.decode("utf-8", errors="replace")
            self._add(QrCode(payload, s.qr_module, s.qr_ec, s.qr_model, s.align))

    def _graphics(self, item: bytes) -> None:
        fn, params = item[6], item[7:]
        if fn in (112, 48 + 64) and len(params) >= 8:  # store raster graphics
            bx, by = params[1], params[2]
            width, height = params[4] + 256 * params[5], params[6] + 256 * params[7]
            self.state.graphics = Raster(width, height, bytes(params[8:]), self.state.align, bx, by)
        elif fn in (50, 2) and self.state.graphics is not None:  # print the stored graphics
            self._add(replace(self.state.graphics, align=self.state.align))
            self.state.graphics = None


def _raster_image(item: bytes, align: Align) -> Raster:
    """GS v 0 m xL xH yL yH d: m bit 0 doubles the width, bit 1 the height."""
    m = item[3]
    width_bytes, height = item[4] + 256 * item[5], item[6] + 256 * item[7]
    return Raster(width_bytes * 8, height, bytes(item[8:]), align, 1 + (m & 1), 1 + ((m >> 1) & 1))


def _column_image(item: bytes, align: Align) -> Raster:
    """ESC * m nL nH d: columns of 8 (m 0, 1) or 24 (m 32, 33) dots, turned into raster rows."""
    m, width = item[2], item[3] + 256 * item[4]
    depth = 3 if m >= 32 else 1
    data = item[5:]
    rows = 8 * depth
    stride = (width + 7) // 8
    out = bytearray(stride * rows)
    for x in range(width):
        for byte_index in range(depth):
            column = data[x * depth + byte_index] if x * depth + byte_index < len(data) else 0
            for bit in range(8):
                if column & (0x80 >> bit):
                    y = byte_index * 8 + bit
                    out[y * stride + x // 8] |= 0x80 >> (x % 8)
    return Raster(stride * 8, rows, bytes(out), align, 1 if m & 1 else 2, 1 if m >= 32 else 3)


def decode_receipts(data: bytes, codepages: dict[int, str] | None = None) -> list[Receipt]:
    """Every receipt in `data`; what follows the last cut comes last, with `cut` None, if it printed anything."""
    decoder = ReceiptDecoder(codepages)
    receipts = [r for item in iter_items(data) if (r := decoder.feed_item(item)) is not None]
    tail = decoder.pending
    if tail.blocks and any(not isinstance(b, Feed) for b in tail.blocks):
        receipts.append(tail)
    return receipts


def decode_text(data: bytes, codepages: dict[int, str] | None = None) -> str:
    """The text of every receipt in `data`, in order."""
    return "".join(r.text for r in decode_receipts(data, codepages))
