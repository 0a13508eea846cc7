"""Read a JSON request body without ever buffering more than the limit.

The Content-Length header is checked before reading, and the stream is counted while it is
read, so a chunked or lying client cannot make the server hold an unbounded body.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agentcreator.runtime.problems import Problem

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_BODY_BYTES = 1024 * 1024


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload_too_large", f"the request body must be at most {limit} bytes")


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> object:
    """The decoded body: 415 for another content type, 413 over ``limit``, 400 if not JSON."""
    if not _is_json(request.headers.get("content-type", "")):
        raise Problem(415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Problem(400, "bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Problem(400, "malformed_json", "the request body is not valid UTF-8 JSON") from None
