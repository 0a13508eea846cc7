"""The component types the pinned ADOT build registers, read from collector/adot-components.txt."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcreator.collector._listing import read_listing

if TYPE_CHECKING:
    from pathlib import Path

_KINDS = ("receiver", "processor", "exporter", "extension")


@dataclass(frozen=True)
class AdotComponents:
    version: str
    types: dict[str, frozenset[str]]  # kind -> every accepted type name, aliases included
    aliases: dict[tuple[str, str], str]  # (kind, deprecated name) -> current name

    def ships(self, kind: str, type_name: str) -> bool:
        return type_name in self.types.get(kind, frozenset())


@functools.lru_cache(maxsize=4)
def load_components(path: Path) -> AdotComponents:
    """Parse the list; a malformed line is an error, because a silent gap would let a bad config pass."""
    version, entries = read_listing(path)
    types: dict[str, set[str]] = {kind: set() for kind in _KINDS}
    aliases: dict[tuple[str, str], str] = {}
    for number, words in entries:
        if words[0] in types and len(words) in (2, 4):
            types[words[0]].add(words[1])
            if len(words) == 4 and words[2] == "alias-of":
                aliases[(words[0], words[1])] = words[3]
            elif len(words) == 4:
                raise ValueError(f"{path}:{number}: expected '<kind> <type> [alias-of <type>]'")
        else:
            raise ValueError(f"{path}:{number}: expected 'version vX.Y.Z' or '<kind> <type> [alias-of <type>]'")
    return AdotComponents(version, {kind: frozenset(names) for kind, names in types.items()}, aliases)
