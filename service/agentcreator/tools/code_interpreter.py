"""A code interpreter for generated tool code: a child process that holds hostile code.

The code comes from an LM that reads a caller's SOP, so it is treated as an attacker's. Each run
gets a fresh private directory, an environment holding no credentials (a short allow-list instead
of the parent's variables), limits on wall-clock time, CPU, address space and file size, capped
output, and the confinement of ``_confine.py``: no sockets, no new processes, no access to other
processes, no writes outside its directory where the kernel has Landlock. A runaway loop, a memory
bomb or an attack becomes a result the LM can read, never a hung pipeline or a leaked secret. The
child is forked from a zygote (``zygote.py``), which is cheaper than starting an interpreter; when
the zygote cannot be used, an interpreter is started directly and confines itself the same way.
docs/sandbox.md has the threat model and the reasons for each layer.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentcreator.tools._confine import REQUIRED, landlock_abi, make_undumpable
from agentcreator.tools._zygote_main import REFUSED_STATUS
from agentcreator.tools.zygote import Job, Zygote, ZygoteUnavailable, zygote_command

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 256
DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024
_SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
# Whether runs add Landlock where the kernel has it; off only to test the other layers alone.
_LANDLOCK = True
_log = logging.getLogger(__name__)


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
        if self.exit_code == REFUSED_STATUS and self.stderr.startswith("sandbox: the run was refused"):
            head = "error: the sandbox could not confine the code, so it did not run"
        elif self.timed_out:
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


_last_isolation: dict[str, object] | None = None


def start_sandbox() -> bool:
    """Start the interpreter runs are forked from (~30 ms), so the first run does not wait for it,
    and log once which isolation layers its runs get."""
    global _last_isolation
    make_undumpable()
    started = _zygote.start()
    _last_isolation = isolation()
    _log_isolation(_last_isolation)
    return started


def last_isolation() -> dict[str, object] | None:
    """What ``start_sandbox`` found, without starting anything (for /ping); None before it ran."""
    return _last_isolation


def isolation() -> dict[str, object]:
    """What a run gets here: the layers applied, or why every run is refused (for /ping and the log)."""
    try:
        layers = _zygote.isolation()
    except ZygoteUnavailable:
        layers = _probe_directly()
    if isinstance(layers, dict):
        return {"layers": [], "refused": layers.get("refused", "unknown")}
    missing = [name for name in REQUIRED if name not in layers]
    if missing:
        return {"layers": layers, "refused": f"missing {', '.join(missing)}"}
    report: dict[str, object] = {"layers": layers}
    if not any(layer.startswith("landlock") for layer in layers):
        report["reduced"] = "no Landlock in this kernel: writes are held by the read-only root filesystem"
    return report


def _log_isolation(report: dict[str, object]) -> None:
    layers = ", ".join(report["layers"]) or "none"  # type: ignore[arg-type]
    if "refused" in report:
        _log.error("sandbox isolation: every code run is refused (%s)", report["refused"])
    elif "reduced" in report:
        _log.warning("sandbox isolation: %s (reduced: %s)", layers, report["reduced"])
    else:
        _log.info("sandbox isolation: %s", layers)


def _probe_directly() -> list[str] | dict[str, str]:
    """The layers a directly started run gets, when no zygote runs: the layers of the kernel's probe."""
    abi = landlock_abi() if _LANDLOCK else 0
    result = run_python("pass")
    if result.exit_code == REFUSED_STATUS:
        return {"refused": result.stderr.strip()}
    if not result.ok:
        return {"refused": result.report()[:200]}
    return ["non_dumpable", *([f"landlock_v{abi}"] if abi else []), "seccomp"]


class _RunRoot:
    """The parent of every run's directory: listable by nobody, so a run cannot find another's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._owner = 0

    def path(self) -> str:
        with self._lock:
            if self._path is None or self._owner != os.getpid() or not self._path.is_dir():
                self._path = Path(tempfile.mkdtemp(prefix="agentcreator-sandbox-"))
                self._path.chmod(stat.S_IWUSR | stat.S_IXUSR)  # enter and create, never list
                self._owner = os.getpid()
            return str(self._path)


_run_root = _RunRoot()


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    """Read a run's output file, which the run may have replaced: a symlink or a FIFO is not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:  # the child died before opening it
        return "", False
    except OSError:
        return "(the run replaced its output file)", False
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "(the run replaced its output file)", False
        data = handle.read(limit + 1)
    return data[:limit].decode(errors="replace"), len(data) > limit


def _run_directly(job: Job, timeout_s: float) -> tuple[int, bool]:
    """Start a new interpreter for the job: the path taken when the zygote cannot be used."""
    process = subprocess.Popen(  # noqa: S603 - fixed argv, code is a file argument
        [*zygote_command(sys.executable), "--once", json.dumps(job.request())],
        cwd=job.workdir,
        env=job.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
    """Run ``code`` with ``python -I``, confined, in a throw-away directory and return what happened."""
    started = time.perf_counter()
    make_undumpable()  # this process holds the secrets the run must not read
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
    with tempfile.TemporaryDirectory(dir=_run_root.path()) as workdir:
        root = Path(workdir)
        script, out_path, err_path = root / "main.py", root / ".stdout", root / ".stderr"
        script.write_text(code, encoding="utf-8")
        env = sandbox_environment() | {"HOME": workdir, "TMPDIR": workdir}
        job = Job(workdir, str(script), str(out_path), str(err_path), env, limits, _LANDLOCK)
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
