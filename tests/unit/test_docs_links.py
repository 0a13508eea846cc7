"""Every relative link in README.md and docs/ names a file that exists, and every docs page is linked."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def test_relative_links_resolve() -> None:
    broken = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in PAGES
        for target in LINK.findall(page.read_text(encoding="utf-8"))
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert broken == []


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in PAGES[1:] if f"](docs/{p.name})" not in readme] == []


def test_no_documented_command_changes_the_pinned_set() -> None:
    # `uv run` without --no-sync re-resolves and replaces pinned packages in .venv.
    offending = [
        f"{page.relative_to(ROOT)}: {line.strip()}"
        for page in [*PAGES, ROOT / "collector" / "README.md"]
        for line in page.read_text(encoding="utf-8").splitlines()
        if re.search(r"\buv run\b(?! --no-sync)", line) and "`uv run`" not in line
    ]
    assert offending == []
