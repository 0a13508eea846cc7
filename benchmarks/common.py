"""Shared by the benchmark scripts: inputs, a quiet OTLP sink, machine facts, worker processes.

Variants run in long-lived worker subprocesses (``benchmarks.worker``) so that instrumentation
and resident memory never leak from one variant into another; the parent drives them in
turns (ABCABC...) so that a noisy neighbour slows every variant alike.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LM_LATENCY_MS = 200
PACKAGES = ("dspy", "openinference-instrumentation-dspy", "opentelemetry-sdk", "litellm", "uvicorn", "starlette")


def _paragraphs(text: str) -> list[str]:
    """The prose of a markdown document, one paragraph per entry, line breaks folded."""
    text = re.sub(r"^#.*$", "", text, flags=re.MULTILINE)
    blocks = (" ".join(block.split()) for block in re.split(r"\n\s*\n", text))
    return [b for b in blocks if b and not b.startswith(("#", "<!--")) and not re.match(r"\d+[.)] ", b)]


def _examples(kind: str) -> list[Path]:
    """The example files of ``kind`` (sops, voices), in order; none found is an error: a copy of
    ``benchmarks/`` without ``examples/`` would otherwise time a pipeline with an empty SOP (prompts
    of 1-3 KB instead of 10-20 KB), and every figure would describe a smaller workload."""
    paths = sorted((EXAMPLES / kind).glob("*.md"))
    if not paths:
        raise FileNotFoundError(f"no example {kind} in {EXAMPLES / kind}: the benchmarks' inputs are built from them")
    return paths


def bench_sop(min_step_chars: int = 700) -> str:
    """Every example SOP, its numbered steps each folded onto one line and annotated with the
    procedure's own prose until ``min_step_chars`` long. The pipeline carries the steps into
    every later prompt (plan, reviews, code, system prompt), so every prompt is 8 KB or more,
    as with a real model's verbose plans; the offline LM would otherwise keep them short."""
    out: list[str] = []
    for path in _examples("sops"):
        text = path.read_text()
        notes = itertools.cycle(_paragraphs(text))
        folded = re.sub(r"\n(?=[ \t]+\S)", " ", text)  # a step's continuation lines join it
        lines = []
        for line in folded.splitlines():
            if re.match(r"\s*\d+[.)]\s", line):
                line = " ".join(line.split())
                while len(line) < min_step_chars:
                    line += f" Note: {next(notes)}"
            lines.append(line)
        out.append("\n".join(lines))
    return "\n\n".join(out)


def repeated(unit: str, min_bytes: int, separator: str = "") -> str:
    """``unit``, repeated (joined by ``separator``) until its UTF-8 is at least ``min_bytes``."""
    text = unit
    while len(text.encode()) < min_bytes:
        text += separator + unit
    return text


def bench_voice(min_bytes: int = 8 * 1024) -> str:
    """The example voices, repeated to ``min_bytes``: the Parse Voice prompt is big too."""
    parts = [path.read_text() for path in _examples("voices")]
    return repeated("\n\n".join(parts) + "\n\n", min_bytes)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (its workers, their sandbox zygotes), from /proc."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for path in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(child) for child in path.read_text().split()]
            except OSError:  # the thread or process ended while being read
                continue
            found += children
            frontier += children
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident set size of a process and all its descendants (a sum: shared pages count twice)."""
    return sum(rss_mb(p) for p in [pid, *descendants(pid)] if Path(f"/proc/{p}/status").exists())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def bench_env(root: Path = ROOT, **extra: str) -> dict[str, str]:
    """The environment for child processes: ours minus every OTel/AgentCreator variable, with the
    benchmarks and the service of the checkout at ``root`` first on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "AGENTCREATOR_", "LANGFUSE_")) and k != "ENVIRONMENT"}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "DSP_CACHEBOOL": "false", "PYTHONUNBUFFERED": "1"})
    src = str(root / "service")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), src, env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


class Worker:
    """One ``benchmarks.worker`` subprocess holding one variant; ``call`` sends a command, waits for
    its one-line JSON answer. With ``root``, the worker, its inputs and the service come from that
    checkout (same interpreter and packages): two builds measured side by side."""

    def __init__(self, variant: str, *, endpoint: str = "", stub_sandbox: bool = True, timeout: float = 120,
                 env: dict[str, str] | None = None, root: Path = ROOT) -> None:
        args = [sys.executable, "-m", "benchmarks.worker", "--variant", variant]
        if endpoint:
            args += ["--endpoint", endpoint]
        if not stub_sandbox:
            args.append("--real-sandbox")
        self.variant = variant
        self.timeout = timeout
        self.proc = subprocess.Popen(args, cwd=root, env=bench_env(root, **(env or {})), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.variant!r} exited with {self.proc.wait()}")
        return json.loads(line)

    def call(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(cmd="exit")
            except (BrokenPipeError, RuntimeError, ValueError):
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def log(message: str) -> None:
    """Progress on stderr, so a ten-minute run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
