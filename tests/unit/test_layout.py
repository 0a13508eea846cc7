"""The layout the imports draw: commands on top of the library, infra/ beside the CLI, no cycles.

Read from the source (every import, lazy ones included), so a module that moves or an import
that crosses a line fails here rather than in review.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "service" / "agentcreator"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _component(path: Path) -> str:
    """`telemetry` for service/agentcreator/telemetry/setup.py, `cli` for service/agentcreator/cli.py."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _modules() -> dict[Path, set[str]]:
    return {path: _imports(path) for path in PACKAGE.rglob("*.py")}


def test_only_the_cli_imports_a_command_module() -> None:
    reaching = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, names in _modules().items()
        if _component(path) not in {"commands", "cli"}
        for name in names
        if name.startswith("agentcreator.commands")
    ]
    reaching += [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "infra").rglob("*.py")
        for name in _imports(path)
        if name.startswith(("agentcreator.commands", "agentcreator.cli"))
    ]
    assert reaching == []


def test_terminal_rendering_is_not_part_of_the_telemetry_core() -> None:
    telemetry = PACKAGE / "telemetry"
    assert not (telemetry / "progress.py").exists() and not (telemetry / "tree.py").exists()
    assert [p.name for p, names in _modules().items()
            if p.is_relative_to(telemetry) and any(n.startswith("agentcreator.terminal") for n in names)] == []


def test_the_packages_import_each_other_without_a_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for path, names in _modules().items():
        for name in names:
            if name.startswith("agentcreator."):
                target = name.split(".")[1]
                if (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").exists():
                    edges[_component(path)].add(target)
    for component in edges:
        edges[component].discard(component)

    def cycle_from(node: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        for target in sorted(edges[node]):
            if target in trail:
                return (*trail[trail.index(target):], target)
            found = cycle_from(target, (*trail, target))
            if found:
                return found
        return None

    cycles = {cycle for start in list(edges) if (cycle := cycle_from(start, (start,)))}
    assert cycles == set()


def test_the_layout_in_the_development_docs_names_every_part_of_the_package() -> None:
    doc = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    drawn = doc[doc.index("service/agentcreator/   the application"):].split("```", 1)[0]
    named = set(re.findall(r"^  (\w+)(?:/|\.py)", drawn, re.MULTILINE))
    parts = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
             if (path.suffix == ".py" or (path / "__init__.py").exists()) and path.name != "__init__.py"}
    assert parts - named == set(), "docs/development.md's layout leaves these out"
    assert named - parts == set(), "docs/development.md's layout names what is not there"


def test_code_tests_and_docs_cite_no_unseen_document() -> None:
    cited = re.compile("|".join([r"DESIGN\s" + "§", r"\bPoint\s\d+:", r"\bthe\s" + r"seed\b",
                                 r"\boriginal\s" + r"specification\b"]), re.IGNORECASE)
    sources = [path for folder in ("service", "tests", "infra", "benchmarks", "scripts")
               for path in (ROOT / folder).rglob("*.py")]
    sources += [ROOT / "README.md", ROOT / "collector" / "README.md", *(ROOT / "docs").glob("*.md")]
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if cited.search(line)
    ]
    assert hits == []
