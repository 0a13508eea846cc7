"""Input limits shared by the CLI and the HTTP runtime, so both refuse the same things."""

from __future__ import annotations

import re

AGENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_SOP_BYTES = 200 * 1024
MAX_VOICE_BYTES = 20 * 1024
MAX_USER_ID_CHARS = 128


def agent_id_problem(agent_id: str) -> str | None:
    """Why ``agent_id`` is unacceptable, or None. It becomes ``session.id`` on every span."""
    if not AGENT_ID_PATTERN.fullmatch(agent_id):
        return "must be 1-128 characters of letters, digits, '.', '_', ':' or '-'"
    return None
