"""Collectors that are not there: a port that refuses connections, and one that never answers.

    with black_hole() as url:           # accepts TCP (the kernel's backlog) but never reads or replies
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refusing_endpoint()   # nothing listens: connection refused
"""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


def refusing_endpoint() -> str:
    """A base URL on a port that was just free, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def black_hole(backlog: int = 128) -> Iterator[str]:
    """A listening socket that never ``accept()``s: connects succeed, requests hang until timeout."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(backlog)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
