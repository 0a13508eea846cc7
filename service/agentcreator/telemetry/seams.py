"""One warning per private seam of a dependency that moved or behaves differently.

Where we reach into a dependency's internals for speed or for a count the public API lacks, the
code checks the seam, falls back to the public path, and says so once per process: a log full of
the same line would hide it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_lock = threading.Lock()
_warned: set[str] = set()


def warn_once(logger: logging.Logger, key: str, message: str, *args: object) -> None:
    """Log ``message % args`` as a warning the first time ``key`` is seen in this process."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)
