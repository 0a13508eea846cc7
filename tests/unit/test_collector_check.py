"""`agentcreator collector check`: exit codes and one line per problem."""

from __future__ import annotations

import argparse

import pytest

from agentcreator.collector import CONFIG_PATH
from agentcreator.commands import collector_check as check


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    check.configure_parser(parser)
    return check.run(parser.parse_args(list(argv)))


def test_default_path_is_the_shipped_config(capsys):
    assert _run() == 0
    assert capsys.readouterr().out == f"ok: {CONFIG_PATH}\n"


@pytest.mark.parametrize(
    "flags", [["--langfuse"], ["--no-langfuse"], ["--xray-mode", "otlp"], ["--no-langfuse", "--xray-mode", "otlp"]]
)
def test_rendered_variants_pass(flags, capsys):
    assert _run(*flags) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_broken_config_prints_each_problem_on_its_own_line(tmp_path, capsys):
    broken = tmp_path / "otel-config.yaml"
    text = CONFIG_PATH.read_text(encoding="utf-8")
    broken.write_text(text.replace("127.0.0.1:4317", "0.0.0.0:4317").replace("  health_check:\n", "  zpages:\n", 1))
    assert _run(str(broken)) == 1
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert out.out == ""
    assert all(line.startswith(f"{broken}: ") for line in lines)
    assert any("'0.0.0.0:4317' is not a loopback address" in line for line in lines)
    assert any("health_check is not enabled" in line for line in lines)


def test_unreadable_file_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert _run(str(missing)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{missing}: cannot read")


def test_variant_of_a_config_without_langfuse_fails_to_render(tmp_path, capsys):
    path = tmp_path / "otel-config.yaml"
    path.write_text("receivers: {}\nexporters: {}\n", encoding="utf-8")
    assert _run(str(path), "--no-langfuse") == 1
    assert "cannot render: exporter otlp_http/langfuse is not defined" in capsys.readouterr().err
