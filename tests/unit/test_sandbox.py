from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentcreator.tools import code_interpreter, run_python, zygote
from agentcreator.tools.code_interpreter import sandbox_environment
from agentcreator.tools.zygote import Zygote


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


def test_each_run_gets_a_fresh_working_directory_and_creates_no_file() -> None:
    first = run_python("import os\nprint(os.getcwd(), flush=True)\nopen('left-behind', 'w').write('x')")
    second = run_python("import os; print(os.path.exists('left-behind'), os.getcwd())")
    assert "PermissionError" in first.stderr
    assert second.stdout.startswith("False")
    assert first.stdout.strip() != second.stdout.split()[1]
    assert not Path(first.stdout.strip()).exists()  # removed with everything in it


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


@pytest.mark.parametrize("path", ["zygote", "direct"])
def test_a_run_that_cannot_be_confined_is_refused_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    """Without libseccomp, nothing runs with less isolation: the LM is told the code did not run."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyseccomp.py").write_text("raise ImportError('simulated: libseccomp is missing')\n")
    tools = str(Path(code_interpreter.__file__).parent)
    monkeypatch.setattr(zygote, "_import_directories", lambda: [tools, str(broken)])
    own = Zygote(sandbox_environment(), executable=sys.executable if path == "zygote" else "/nonexistent/python")
    monkeypatch.setattr(code_interpreter, "_zygote", own)
    try:
        marker = tmp_path / "ran"
        result = run_python(f"open({str(marker)!r}, 'w').write('ran')")
        assert not result.ok and not marker.exists()
        assert result.report().startswith("error: the sandbox could not confine the code, so it did not run")
        assert "libseccomp" in result.stderr
        assert code_interpreter.isolation()["refused"]
    finally:
        own.close()


def test_without_landlock_the_isolation_says_it_is_reduced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_interpreter._zygote, "isolation", lambda: ["non_dumpable", "seccomp"])
    report = code_interpreter.isolation()
    assert report["layers"] == ["non_dumpable", "seccomp"] and "Landlock" in report["reduced"]
    assert "refused" not in report


def test_every_agentcreator_process_makes_itself_non_dumpable() -> None:
    """The CLI's first act, so /proc/<pid>/environ of `agentcreator serve` is closed to its own uid."""
    probe = (
        "import ctypes\nfrom agentcreator import cli\ntry:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "0"


def test_a_run_cannot_make_the_application_read_through_its_output_files(tmp_path: Path) -> None:
    """The app reads a run's .stdout after the run: the run cannot replace it (no unlink, symlink or
    mkfifo), and a symlink or a FIFO found there would not be followed."""
    secret = tmp_path / "secret"
    secret.write_text("app-only")
    result = run_python(
        "import os\nos.close(1)\nos.unlink('.stdout')\n"
        f"os.symlink({str(secret)!r}, '.stdout')\nos.unlink('.stderr')\nos.mkfifo('.stderr')"
    )
    assert "app-only" not in result.stdout + result.stderr
    assert "PermissionError" in result.stderr
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")
    for replaced in ("link", "fifo"):
        assert code_interpreter._read_capped(tmp_path / replaced, 100) == ("(the run replaced its output file)", False)
