"""The plain-text listings of what the pinned ADOT build has (collector/adot-*.txt): one format, read once here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def read_listing(path: Path) -> tuple[str, list[tuple[int, list[str]]]]:
    """The build's version (its `version vX.Y.Z` line) and every other line's words with its number;
    `#` starts a comment and blank lines are skipped. A listing without a version is an error."""
    version = ""
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if words[:1] == ["version"] and len(words) == 2:
            version = words[1]
        elif words:
            entries.append((number, words))
    if not version:
        raise ValueError(f"{path}: no 'version' line")
    return version, entries
