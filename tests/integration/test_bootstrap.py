"""The README's two commands on a machine with nothing but a Python: no uv, no pip, no Node.js.

Each test copies the project (its files, not .venv or .tools) and runs `make` with a PATH that
holds one bare interpreter and the system's basic tools, with every `node`, `npm`, `uv`, `pip`
and other Python taken out. The interpreter is a copy of an installed CPython, preferably
3.12 or 3.13 (so nothing may assume 3.11), with its site-packages emptied (no pip) and PEP 668's
`EXTERNALLY-MANAGED` marker in its standard library, as Debian's python3 has. These tests need
the package registries (uv and the pinned set are installed from them, through the caches).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_doc_samples import demo_sample_differences

pytestmark = [pytest.mark.slow, pytest.mark.registry]

ROOT = Path(__file__).resolve().parents[2]
NOT_COPIED = {".git", ".venv", ".tools", "cdk.out", ".demo", ".pytest_cache", ".ruff_cache", "__pycache__"}
HIDDEN_TOOLS = re.compile(r"^(node|nodejs|npm|npx|corepack|uv|uvx|pip.*|python.*|pydoc.*|idle.*|2to3.*)$")
PEP_668 = "[externally-managed]\nError=This Python is managed by the system (a test's stand-in for Debian's).\n"


def _interpreters() -> list[Path]:
    """Installed CPythons to copy, newest first: on PATH, and pyenv's if there is one."""
    found = [Path(p) for name in ("python3.13", "python3.12") if (p := shutil.which(name))]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found += sorted(pyenv.glob("3.1[23].*/bin/python3"), reverse=True)
    return [*found, Path(sys.executable)]


def _base(python: Path) -> tuple[Path, str] | None:
    """(installation prefix, "3.X") of an interpreter that runs, outside /usr (which is not copied)."""
    probe = subprocess.run(
        [str(python), "-c", "import sys; print(sys.base_prefix); print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        return None
    prefix, version = probe.stdout.split()
    return (Path(prefix), version) if Path(prefix) != Path("/usr") else None


def _copy_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows (fast, and nothing here writes into a file), else copies."""
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A copy of a CPython 3.11-3.13 installation without pip, marked externally managed (PEP 668)."""
    base = next((b for p in _interpreters() if (b := _base(p)) and b[1] in {"3.11", "3.12", "3.13"}), None)
    if base is None:
        pytest.skip("no CPython 3.11-3.13 installation outside /usr to copy")
    prefix, version = base
    target = tmp_path_factory.mktemp("bare-python") / "python"
    _copy_tree(prefix, target)
    stdlib = target / "lib" / f"python{version}"
    site = stdlib / "site-packages"
    shutil.rmtree(site)
    site.mkdir()
    (stdlib / "EXTERNALLY-MANAGED").write_text(PEP_668)
    for extra in (target / "bin").iterdir():  # pip, pip3, idle, the pyenv-era scripts
        if extra.name not in {f"python{version}", "python3", "python"}:
            extra.unlink()
    python = target / "bin" / f"python{version}"
    assert subprocess.run([str(python), "-c", "import pip"], capture_output=True, check=False).returncode != 0
    return python


def bare_path(tmp_path: Path, python: Path | None) -> str:
    """A PATH of the system's basic tools, without Node.js, uv, pip or any Python but `python`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for system_dir in ("/usr/bin", "/bin"):
        for tool in Path(system_dir).iterdir():
            if HIDDEN_TOOLS.match(tool.name) or (bin_dir / tool.name).exists() or not os.access(tool, os.X_OK):
                continue
            (bin_dir / tool.name).symlink_to(tool)
    if python is not None:
        (bin_dir / "python3").symlink_to(python)
    return str(bin_dir)


def fresh_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=lambda _dir, names: [n for n in names if n in NOT_COPIED])
    return project


def bare_env(path: str) -> dict[str, str]:
    """A login's environment: HOME (for the download caches), the bare PATH, and the registries' settings."""
    keep = {name: value for name, value in os.environ.items()
            if name in {"HOME", "LANG", "TMPDIR"} or name.startswith(("PIP_", "UV_", "SSL_CERT_"))}
    return {**keep, "PATH": path, "CI": "true"}


def make(project: Path, env: dict[str, str], *targets: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *targets], cwd=project, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_make_demo_and_synth_from_a_bare_externally_managed_python(tmp_path, bare_python) -> None:
    project = fresh_project(tmp_path)
    env = bare_env(bare_path(tmp_path, bare_python))

    installed = make(project, env, "install")
    assert installed.returncode == 0, installed.stderr
    assert "installing uv" in installed.stdout
    venv_version = subprocess.run([str(project / ".venv/bin/python"), "-c", "import sys; print(sys.version)"],
                                  capture_output=True, text=True, check=True).stdout
    assert venv_version.split()[0] == subprocess.run(
        [str(bare_python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True).stdout.strip()
    # Nothing went into the interpreter itself.
    assert [p.name for p in (bare_python.parent.parent / "lib").glob("python3.*/site-packages/*")] == []

    demo = make(project, env, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert re.search(r"✓ Phoenix has the whole trace: (\d+)/\1 spans", demo.stdout + demo.stderr)
    assert demo_sample_differences(demo.stderr) == []  # the README shows what `make demo` prints

    synth = make(project, env, "synth")  # jsii runs on the pinned Node.js: there is none on PATH
    assert synth.returncode == 0, synth.stderr
    assert "to cdk.out/" in synth.stderr
    assert sorted(p.name for p in (project / "cdk.out").glob("*.template.json")) == [
        "AgentCreator-dev.template.json", "AgentCreator-prod.template.json", "AgentCreator-staging.template.json"]


def test_make_install_from_the_systems_own_externally_managed_python(tmp_path) -> None:
    """Debian's and Ubuntu's python3, as the distribution ships it (PEP 668), where there is one."""
    system = Path("/usr/bin/python3")
    stdlib = subprocess.run([str(system), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                            capture_output=True, text=True, check=False).stdout.strip() if system.exists() else ""
    if not stdlib or not (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
        pytest.skip("no externally managed /usr/bin/python3 on this machine")
    project = fresh_project(tmp_path)

    installed = make(project, bare_env(bare_path(tmp_path, system)), "install")

    assert installed.returncode == 0, installed.stderr
    version = subprocess.run([str(project / ".venv/bin/agentcreator"), "--version"], capture_output=True, text=True,
                             check=False)
    assert version.returncode == 0, version.stderr


def test_a_python_without_ensurepip_gets_one_line_saying_what_to_install(tmp_path, bare_python) -> None:
    crippled = tmp_path / "python"
    _copy_tree(bare_python.parent.parent, crippled)
    version = bare_python.name.removeprefix("python")
    shutil.rmtree(crippled / "lib" / f"python{version}" / "ensurepip")
    project = fresh_project(tmp_path)

    result = make(project, bare_env(bare_path(tmp_path, crippled / "bin" / bare_python.name)), "install")

    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if not line.startswith("make:")]
    assert len(said) == 1, result.stderr
    assert f"apt-get install python{version}-venv" in said[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_no_suitable_python_gets_one_line(tmp_path) -> None:
    project = fresh_project(tmp_path)

    result = make(project, bare_env(bare_path(tmp_path, None)), "install")

    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if not line.startswith("make:")]
    assert said == ["bootstrap: needs Python 3.11, 3.12 or 3.13 on PATH: install one (Debian/Ubuntu: apt-get "
                    "install python3), or name it with PYTHON=/path/to/python3.12"]


def test_a_pinned_set_that_cannot_be_fetched_gets_one_line(tmp_path, bare_python) -> None:
    """uv is there (the project's .tools/), the packages are not: no registry, an empty cache."""
    project = fresh_project(tmp_path)
    _copy_tree(ROOT / ".tools", project / ".tools")  # `make test` has installed it
    env = {**bare_env(bare_path(tmp_path, bare_python)), "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "cache")}

    result = make(project, env, "install")

    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if not line.startswith("make:")]
    assert len(said) == 1, result.stderr
    assert said[0].startswith("bootstrap: could not install requirements.lock into .venv (")
    assert "(all of uv's output: .tools/install.log)" in said[0]
    assert "Traceback" not in result.stdout + result.stderr
