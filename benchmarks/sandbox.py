"""The code interpreter's cost per run, and the share of it its confinement takes.

Interleaved in one process: a run of the offline LM's tool code through ``run_python`` (forked
from the zygote, as the pipeline does), the same through the direct path (a new interpreter per
run), and the confinement alone (``_confine.confine`` timed inside a forked child: Landlock where
the kernel has it, then the seccomp filter).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

from agentcreator.pipeline.offline_lm import _code
from agentcreator.tools import _confine, code_interpreter, run_python
from agentcreator.tools.zygote import Zygote
from benchmarks.common import log, median

ROUNDS = 40
TOOL_CODE = _code(["lookup_order", "issue_refund", "notify_customer"], 1)


def _confine_ms() -> float:
    """Wall time of confining a fresh fork of this process."""
    read, write = os.pipe()
    with tempfile.TemporaryDirectory() as workdir:
        pid = os.fork()
        if pid == 0:
            os.close(read)
            started = time.perf_counter()
            _confine.confine(workdir)
            os.write(write, json.dumps(time.perf_counter() - started).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            seconds = json.loads(pipe.read())
        os.waitpid(pid, 0)
    return seconds * 1000


def _run_ms() -> float:
    started = time.perf_counter()
    result = run_python(TOOL_CODE)
    assert result.ok, result.report()
    return (time.perf_counter() - started) * 1000


def main(rounds: int = ROUNDS) -> dict[str, Any]:
    _confine.load_seccomp()  # as the zygote does once, before it forks
    code_interpreter.start_sandbox()
    zygote, direct = code_interpreter._zygote, Zygote({}, executable="/nonexistent/python")
    forked, started_anew, confining = [], [], []
    for _ in range(rounds):
        forked.append(_run_ms())
        code_interpreter._zygote = direct  # the zygote "cannot start": each run starts an interpreter
        try:
            started_anew.append(_run_ms())
        finally:
            code_interpreter._zygote = zygote
        confining.append(_confine_ms())
    log(f"sandbox: {rounds} rounds done")
    run, confine = median(forked), median(confining)
    return {
        "sandbox_run_ms": round(run, 2),
        "sandbox_direct_run_ms": round(median(started_anew), 2),
        "sandbox_confine_ms": round(confine, 3),
        "sandbox_confine_share": round(confine / run, 3),
        "sandbox_isolation": code_interpreter.isolation()["layers"],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
