"""Client errors as data: one exception type that becomes one JSON response, never a traceback."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An HTTP error with a stable ``error`` code; ``extra`` fields are added to the JSON body."""

    def __init__(
        self, status: int, error: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.body: dict[str, Any] = {"error": error, "detail": detail, **extra}
        self.headers = headers or {}


def validation_problem(fields: dict[str, str]) -> Problem:
    """422 naming every bad field at once, so a client fixes them in one round trip."""
    names = ", ".join(sorted(fields))
    return Problem(422, "validation_error", f"invalid or missing fields: {names}", fields=fields)
