"""Versioned JSON messages: the framing the hub's WebSockets and the GP's control channel share.

Every message is a JSON object `{"v": 1, "type": ..., ...}` within a size limit, validated
strictly by pydantic models (unknown type or field: refused). A refusal is a `MessageError`
whose text is fit to send back to the other side.
"""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from runtime.errors import ParseError

VERSION = 1
T = TypeVar("T")


class MessageError(ParseError):
    """A message could not be understood; the text says why."""


class Part(BaseModel):
    """A frozen part of a message: unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Part):
    """A whole message: a part with the protocol version."""

    v: Literal[1] = 1


def parse_versioned(adapter: TypeAdapter[T], text: str | bytes, *, limit: int, speaker: str,
                    error: type[MessageError]) -> T:
    """One versioned message validated by `adapter`, or `error` saying what is wrong.

    Size limit in UTF-8 bytes, JSON object, supported version, then the models; the first
    problem found is the message.
    """
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > limit:
        raise error(f"message too large ({size} bytes, limit {limit})")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise error(f"not JSON {speaker} accepts: nested too deeply") from exc
    if not isinstance(data, dict):
        raise error("a message is a JSON object")
    version = data.get("v")
    if isinstance(version, bool) or version != VERSION:
        raise error(f"unsupported message version {version!r}, {speaker} speaks v{VERSION}")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise error(f"{where}: {first['msg']}") from exc


def encode(message_type: str, **fields: object) -> str:
    """A message as compact JSON text."""
    return json.dumps({"v": VERSION, "type": message_type, **fields}, ensure_ascii=False, separators=(",", ":"))
