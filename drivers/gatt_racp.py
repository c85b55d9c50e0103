"""Record Access Control Point (0x2A52): the requests a collector writes and the answers a server indicates.

Op codes, operators and response codes from Bluetooth SIG GLS 1.0 §3.6 (the same control point serves
CGM and PLX). A request is an op code, an operator and an optional operand; a server answers with a
Number of Stored Records Response (op 5) or a Response Code (op 6) naming the request and the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from drivers.errors import ProtocolError
from drivers.gatt_common import Reader, pack_uint


class RacpOp(IntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(IntEnum):
    """RACP operators: which records a request is about."""

    NULL = 0
    ALL_RECORDS = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class RacpCode(IntEnum):
    """RACP response codes."""

    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9

    @property
    def text(self) -> str:
        """The code as people read it, e.g. "no records found"."""
        return self.name.lower().replace("_", " ")


E = TypeVar("E", bound=IntEnum)
_REQUESTS = frozenset({RacpOp.REPORT_STORED_RECORDS, RacpOp.DELETE_STORED_RECORDS, RacpOp.ABORT_OPERATION,
                       RacpOp.REPORT_NUMBER_OF_RECORDS})
SEQUENCE_NUMBER_FILTER = 1  # GLS 1.0 §3.6.2: the operand's filter type for sequence numbers (u16)
_COUNT_SIZES = (1, 2, 4)  # GLS sends a u16; some servers of the same control point send u8 or u32


def _enum(kind: type[E], value: int, field: str, at: int) -> E:
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"Record Access Control Point: {field} {value} at offset {at} is not defined") from None


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request written to the RACP."""

    op: RacpOp
    operator: RacpOperator
    operand: bytes = b""

    @classmethod
    def report_last_record(cls) -> RacpRequest:
        """Report stored records: the last one."""
        return cls(RacpOp.REPORT_STORED_RECORDS, RacpOperator.LAST_RECORD)

    @classmethod
    def report_all_records(cls) -> RacpRequest:
        """Report stored records: all of them."""
        return cls(RacpOp.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)

    @classmethod
    def report_records_from(cls, sequence: int) -> RacpRequest:
        """Report stored records whose sequence number is at least `sequence` (filter type 0x01, u16)."""
        operand = pack_uint(SEQUENCE_NUMBER_FILTER, 1, "filter type") + pack_uint(sequence, 2, "sequence number")
        return cls(RacpOp.REPORT_STORED_RECORDS, RacpOperator.GREATER_OR_EQUAL, operand)

    @classmethod
    def report_number_of_records(cls) -> RacpRequest:
        """Report the number of stored records (all of them)."""
        return cls(RacpOp.REPORT_NUMBER_OF_RECORDS, RacpOperator.ALL_RECORDS)

    def __bytes__(self) -> bytes:
        return pack_uint(self.op, 1, "op code") + pack_uint(self.operator, 1, "operator") + bytes(self.operand)

    def json_extras(self) -> dict[str, object]:
        """Names for ``cabin decode``."""
        return {"op": self.op.name.lower(), "operator": self.operator.name.lower(), "operand": self.operand.hex()}


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """A Response Code (op 6): how the request with op code `request` ended."""

    request: int  # an op code; a server answers "op code not supported" to codes it does not know
    code: RacpCode

    def __bytes__(self) -> bytes:
        return bytes([RacpOp.RESPONSE_CODE, RacpOperator.NULL]) + pack_uint(self.request, 1, "request op code") + \
            bytes([self.code])

    def json_extras(self) -> dict[str, object]:
        """Names for ``cabin decode``."""
        known = self.request in RacpOp.__members__.values()
        return {"request": RacpOp(self.request).name.lower() if known else self.request, "code": self.code.text}


@dataclass(frozen=True, slots=True)
class RacpRecordCount:
    """A Number of Stored Records Response (op 5)."""

    count: int

    def __bytes__(self) -> bytes:
        return bytes([RacpOp.NUMBER_OF_RECORDS_RESPONSE, RacpOperator.NULL]) + pack_uint(self.count, 2, "count")


RacpValue = RacpRequest | RacpResponse | RacpRecordCount


def parse_racp(data: bytes) -> RacpValue:
    """Decode a RACP value: a request (op 1-4) or one of the two answers (op 5 and 6)."""
    reader = Reader(data, "Record Access Control Point")
    op = _enum(RacpOp, reader.uint(1, "op code"), "op code", 0)
    operator = _enum(RacpOperator, reader.uint(1, "operator"), "operator", 1)
    if op in _REQUESTS:
        return RacpRequest(op, operator, reader.rest())
    if operator is not RacpOperator.NULL:
        raise ProtocolError(f"Record Access Control Point: a {op.name.lower()} has operator {operator.value}, "
                            f"not 0 (null)")
    if op is RacpOp.RESPONSE_CODE:
        request = reader.uint(1, "request op code")
        code = _enum(RacpCode, reader.uint(1, "response code"), "response code", 3)
        reader.finish()
        return RacpResponse(request, code)
    count = reader.rest()
    if len(count) not in _COUNT_SIZES:
        raise ProtocolError(f"Record Access Control Point: a number of records of {len(count)} byte(s) at offset 2; "
                            f"expected 2 (or 1 or 4)")
    return RacpRecordCount(int.from_bytes(count, "little"))
