from __future__ import annotations

import pytest

from agentcreator.tools import run_python


def test_runs_code_and_reports_output() -> None:
    result = run_python("print('hello')")
    assert result.ok and result.stdout == "hello\n"
    assert result.report().startswith("ok:")


def test_environment_holds_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic%20fake")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-fake")
    result = run_python("import os; print(sorted(os.environ))")
    assert "AWS" not in result.stdout and "OTEL" not in result.stdout and "LANGFUSE" not in result.stdout


def test_each_run_gets_a_fresh_working_directory() -> None:
    first = run_python("import os; open('left-behind', 'w').write('x'); print(os.getcwd())")
    second = run_python("import os; print(os.path.exists('left-behind'), os.getcwd())")
    assert second.stdout.startswith("False")
    assert first.stdout.strip() != second.stdout.split()[1]


def test_runaway_loop_is_stopped_by_the_timeout() -> None:
    result = run_python("while True:\n    pass", timeout_s=1)
    assert result.timed_out and not result.ok
    assert "time limit" in result.report()
    assert result.duration_ms < 5000


def test_memory_bomb_ends_in_a_clear_error() -> None:
    result = run_python("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))", memory_mb=128)
    assert result.memory_exceeded and not result.ok
    assert "memory limit" in result.report()


def test_output_is_capped() -> None:
    result = run_python("print('x' * 100000)", max_output_bytes=1000)
    assert result.output_truncated and len(result.stdout) == 1000


def test_a_crash_is_a_result_not_an_exception() -> None:
    result = run_python("raise ValueError('bad tool')")
    assert result.exit_code == 1 and "ValueError: bad tool" in result.stderr
