"""A code interpreter for generated tool code: a child process that cannot hurt the pipeline.

Each run gets a fresh temporary directory, an environment holding no credentials (a short
allow-list instead of the parent's variables), limits on wall-clock time, CPU, address
space and file size, and capped output. A runaway loop or a memory bomb becomes a result
the LM can read, never a hung or crashed pipeline.
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


# Runs first in the child: set its limits, then run the script as __main__. Done here rather
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
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return data[:limit].decode(errors="replace"), len(data) > limit


def run_python(
    code: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> SandboxResult:
    """Run ``code`` with ``python -I`` in a throw-away directory and return what happened."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentcreator-sandbox-") as workdir:
        root = Path(workdir)
        script, out_path, err_path = root / "main.py", root / ".stdout", root / ".stderr"
        script.write_text(code, encoding="utf-8")
        env = sandbox_environment() | {"HOME": workdir, "TMPDIR": workdir}
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, code is a file argument
                [
                    sys.executable, "-I", "-B", "-c", _BOOTSTRAP,
                    str(memory_mb * 1024 * 1024), str(int(timeout_s) + 1), str(max_output_bytes * 4), str(script),
                ],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            timed_out = False
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stdout, out_cut = _read_capped(out_path, max_output_bytes)
        stderr, err_cut = _read_capped(err_path, max_output_bytes)
    code_ = process.returncode
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
