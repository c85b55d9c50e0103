"""QR codes and Code 128 barcodes as dot patterns and Pillow images (pure, deterministic).

The layout uses them when a printer cannot draw a symbol itself (it then sends an image);
the receipt preview uses them to draw what a printer's native command would have drawn.
Code 128 is encoded exactly as an ESC/POS printer encodes GS k data: `{A`, `{B`, `{C`
select the code set (in set C each byte 0-99 stands for two digits), `{1` is FNC1 and `{{`
a brace; the check symbol is (start + sum of position x value) mod 103 (ISO/IEC 15417).
"""

from __future__ import annotations

import qrcode  # type: ignore[import-untyped]
from barcode.charsets.code128 import CODES  # type: ignore[import-untyped]
from PIL import Image

from printer.errors import LayoutError

_QR_EC = {
    "L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H,
}
_START = {"A": 103, "B": 104, "C": 105}
_SWITCH = {"A": 101, "B": 100, "C": 99}  # the same values switch from any set
_FNC1 = 102
_STOP = "1100011101011"  # stop symbol and its final two-module bar


def qr_matrix(payload: str, ec: str = "M") -> list[list[bool]]:
    """The modules of the smallest QR code (model 2) holding `payload`, without quiet zone."""
    code = qrcode.QRCode(version=None, error_correction=_QR_EC[ec], border=0)
    code.add_data(payload)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def _symbol_value(byte: int, codeset: str) -> int:
    if codeset == "C":
        if byte > 99:
            raise LayoutError(f"Code 128 set C takes values 0-99, not {byte}")
        return byte
    if codeset == "A" and byte < 32:
        return byte + 64
    if not 32 <= byte <= (95 if codeset == "A" else 127):
        raise LayoutError(f"byte {byte} cannot be encoded in Code 128 set {codeset}")
    return byte - 32


def code128_values(data: bytes) -> list[int]:
    """The symbol values of ESC/POS CODE128 data (start symbol first, no check symbol)."""
    if len(data) < 2 or data[:1] != b"{" or chr(data[1]) not in _START:
        raise LayoutError("Code 128 data must start with {A, {B or {C")
    codeset = chr(data[1])
    values = [_START[codeset]]
    i = 2
    while i < len(data):
        if data[i] == 0x7B and i + 1 < len(data) and data[i + 1] != 0x7B:
            mark = chr(data[i + 1])
            if mark in _SWITCH:
                codeset = mark
                values.append(_SWITCH[mark])
            elif mark == "1":
                values.append(_FNC1)
            else:
                raise LayoutError(f"unsupported Code 128 mark {{{mark}")
            i += 2
            continue
        values.append(_symbol_value(data[i], codeset))
        i += 2 if data[i] == 0x7B else 1  # "{{" is one brace
    return values


def code128_modules(data: bytes) -> str:
    """The bars ("1") and spaces ("0") of ESC/POS CODE128 data, check symbol and stop included."""
    values = code128_values(data)
    check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    return "".join(CODES[v] for v in (*values, check)) + _STOP


def qr_image(payload: str, ec: str, module: int, border: int = 1) -> Image.Image:
    """A black-on-white QR code, `module` dots per module, with `border` white modules around."""
    matrix = qr_matrix(payload, ec)
    size = len(matrix) + 2 * border
    small = Image.new("L", (size, size), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                small.putpixel((x + border, y + border), 0)
    return small.resize((size * module, size * module), Image.Resampling.NEAREST)


def bars_image(modules: str, module: int, height: int) -> Image.Image:
    """A black-on-white 1D barcode: each module `module` dots wide, `height` dots tall."""
    row = Image.new("L", (len(modules), 1), 255)
    for x, bar in enumerate(modules):
        if bar == "1":
            row.putpixel((x, 0), 0)
    return row.resize((len(modules) * module, height), Image.Resampling.NEAREST)
