"""The commands README.md and docs/ show keep the pinned set and need nothing off the project's PATH.

uv lives in `.tools/bin/` (scripts/bootstrap.sh puts it there, never on PATH), and `uv run`
without `--no-sync` re-resolves and replaces pinned packages in `.venv` (there is no uv.lock).
So every uv the docs show is `.tools/bin/uv run --no-sync …`; the bare words `uv run` may
appear only as the thing not to type, and nothing shows `pip install` or `uv sync`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "collector" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`]+)`", re.S)
UV = re.compile(r"(?P<where>[\w./$()-]*)\buv\s+(?P<rest>[^\n]*)")


def _code(path: Path) -> list[str]:
    return [m.group(1) or m.group(2) for m in CODE.finditer(path.read_text(encoding="utf-8"))]


def test_every_uv_the_docs_show_is_the_projects_own_without_sync() -> None:
    shown = [
        (path.relative_to(ROOT).as_posix(), use.group(0))
        for path in DOCS
        for code in _code(path)
        for use in UV.finditer(code)
    ]
    assert shown, "the README says how to run the CLI through uv"
    wrong = [(where, text) for where, text in shown
             if text != "uv run" and not text.startswith(".tools/bin/uv run --no-sync ")]
    assert wrong == []


def test_no_doc_installs_into_an_environment_by_hand() -> None:
    installing = [
        (path.relative_to(ROOT).as_posix(), line)
        for path in DOCS
        for code in _code(path)
        for line in code.splitlines()
        if re.search(r"\bpip3? install\b|\buv (sync|pip|add)\b", line)
    ]
    assert installing == []
