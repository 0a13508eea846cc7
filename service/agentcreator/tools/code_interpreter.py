"""A code interpreter for generated tool code: a child process that cannot hurt the pipeline.

Each run gets a fresh temporary directory, an environment holding no credentials (a short
allow-list instead of the parent's variables), limits on wall-clock time, CPU, address
space and file size, and capped output. A runaway loop or a memory bomb becomes a result
the LM can read, never a hung or crashed pipeline. The child is forked from a zygote
(``zygote.py``), which is cheaper than starting an interpreter; when the zygote cannot be
used, the interpreter is started directly, so a run never fails because of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentcreator.tools.zygote import Job, Zygote, ZygoteUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 256
DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024
_SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    memory_exceeded: bool
    output_truncated: bool
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def report(self) -> str:
        """What the LM sees as the tool's observation."""
        if self.timed_out:
            head = "error: the code ran past its time limit and was stopped"
        elif self.memory_exceeded:
            head = "error: the code exceeded its memory limit and was stopped"
        elif self.exit_code != 0:
            head = f"error: the code exited with status {self.exit_code}"
        else:
            head = "ok: the code ran to completion"
        parts = [head]
        if self.stdout.strip():
            parts.append(f"stdout:\n{self.stdout.rstrip()}")
        if self.stderr.strip():
            parts.append(f"stderr:\n{self.stderr.rstrip()}")
        if self.output_truncated:
            parts.append("(output truncated)")
        return "\n".join(parts)


def sandbox_environment() -> dict[str, str]:
    """The child's whole environment: nothing inherited, so no AWS_*, OTEL_* or LANGFUSE_* leaks."""
    return dict(_SAFE_ENV)


# Started on first use; it holds the sandbox's environment only, never the application's.
_zygote = Zygote(sandbox_environment())


def start_sandbox() -> bool:
    """Start the interpreter runs are forked from (~30 ms), so the first run does not wait for it."""
    return _zygote.start()


# Runs first in a directly started child: set its limits, then run the script as __main__. Done here rather
# than in a preexec_fn, which is not safe in a multi-threaded server; exec() rather than runpy,
# whose imports cost about 12 ms of every run.
_BOOTSTRAP = """
import resource, sys
memory, cpu, fsize, script = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.argv = [script]
with open(script, encoding="utf-8") as source:
    code = compile(source.read(), script, "exec")
del memory, cpu, fsize, resource, source
exec(code, {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__})
"""


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:  # the child died before opening it
        return "", False
    return data[:limit].decode(errors="replace"), len(data) > limit


def _run_directly(job: Job, timeout_s: float) -> tuple[int, bool]:
    """Start a new interpreter for the job: the path taken when the zygote cannot be used."""
    memory, cpu, fsize = job.limits
    with Path(job.stdout).open("wb") as out, Path(job.stderr).open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, code is a file argument
            [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, str(memory), str(cpu), str(fsize), job.script],
            cwd=job.workdir,
            env=job.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(), True


def run_python(
    code: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> SandboxResult:
    """Run ``code`` with ``python -I`` in a throw-away directory and return what happened."""
    started = time.perf_counter()
    limits = (memory_mb * 1024 * 1024, int(timeout_s) + 1, max_output_bytes * 4)
    # Twice: a zygote found dead is replaced by a new one. Each try gets a fresh directory.
    for _ in range(2):
        try:
            return _run(_zygote.run, code, timeout_s, limits, max_output_bytes, started)
        except ZygoteUnavailable:
            pass
    return _run(_run_directly, code, timeout_s, limits, max_output_bytes, started)


def _run(
    runner: Callable[[Job, float], tuple[int, bool]],
    code: str,
    timeout_s: float,
    limits: tuple[int, int, int],
    max_output_bytes: int,
    started: float,
) -> SandboxResult:
    with tempfile.TemporaryDirectory(prefix="agentcreator-sandbox-") as workdir:
        root = Path(workdir)
        script, out_path, err_path = root / "main.py", root / ".stdout", root / ".stderr"
        script.write_text(code, encoding="utf-8")
        env = sandbox_environment() | {"HOME": workdir, "TMPDIR": workdir}
        job = Job(workdir, str(script), str(out_path), str(err_path), env, limits)
        code_, timed_out = runner(job, timeout_s)
        stdout, out_cut = _read_capped(out_path, max_output_bytes)
        stderr, err_cut = _read_capped(err_path, max_output_bytes)
    memory_exceeded = not timed_out and ("MemoryError" in stderr or code_ in (-signal.SIGKILL, -signal.SIGSEGV))
    return SandboxResult(
        exit_code=None if timed_out else code_,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out or code_ == -signal.SIGXCPU,
        memory_exceeded=memory_exceeded,
        output_truncated=out_cut or err_cut,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
