"""The sample outputs in README.md and docs/ are what the code prints today.

Durations, ports, process ids and trace ids change from run to run and are left out of the
comparison; everything else (names, counts, tokens, keys, advice) must match.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.otlp_sink import OtlpSink
from tests.support.runtime_server import RuntimeServer, clean_environment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _without_durations(lines: list[str]) -> list[str]:
    return [re.sub(r"\s+\d+ ms", " _ms", line) for line in lines]


def _readme_demo_tree() -> list[str]:
    start = README.index("trace (stage, #iteration, duration, LLM calls, input+output tokens):\n")
    block = README[start:].split("\n", 1)[1]
    return block[: block.index("\n\n")].splitlines()


def _demo_line(line: str) -> str:
    """A demo line without what changes from run to run: ports, paths, ids, durations, sizes."""
    for pattern, stand_in in (
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"), (r"\(data in [^)]*\)", "(data in DIR)"),
        (r"/projects/[^/]+/", "/projects/ID/"), (r"\b[0-9a-f]{32}\b", "TRACE_ID"), (r"\s+\d+ ms\b", " _ms"),
        (r"in \d+(\.\d+)? s, \d+ MB resident", "in _s, _MB resident"), (r"\d+(\.\d+)? s in all", "_s in all"),
    ):
        line = re.sub(pattern, stand_in, line)
    return line.rstrip()


def demo_sample_differences(printed: str) -> list[str]:
    """Where what `agentcreator demo --exit` printed on stderr differs from the README's sample.

    The sample's `  …` stands for the stage lines it leaves out; it ends with the line an
    interactive demo adds before waiting for Ctrl-C, which `--exit` (CI) does not print.
    """
    start = README.index("```\nagentcreator demo: starting Arize Phoenix")
    sample = [_demo_line(line) for line in README[start + 4:].split("```", 1)[0].splitlines()]
    sample = sample[: next(i for i, line in enumerate(sample) if line.endswith("_s in all")) + 1]
    lines = [_demo_line(line) for line in printed.splitlines() if "starting Phoenix (about" not in line]
    differences, at = [], 0
    for number, wanted in enumerate(sample):
        if wanted == "  …":  # skip to the next line the sample shows
            following = sample[number + 1]
            while at < len(lines) and lines[at] != following:
                at += 1
            continue
        got = lines[at] if at < len(lines) else "(nothing)"
        # Stages that run in parallel (the two parsers) finish in either order: any stage's line will do.
        if got != wanted and not (wanted.startswith("  ✓ ") and got.startswith("  ✓ ")):
            differences.append(f"README: {wanted!r}\n  demo: {got!r}")
        at += 1
    return differences


def test_the_readme_demo_sample_is_the_offline_pipelines_trace(tmp_path) -> None:
    trace_file = tmp_path / "spans.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "agentcreator.cli", "run", "--sop", "examples/sops/refund-request.md",
         "--voice", "examples/voices/warm-concierge.md", "--agent-id", "demo-agent",
         "--lm", "offline:plan_rejections=1,code_rejections=1", "--trace-file", str(trace_file),
         "--output", str(tmp_path / "agent.json")],
        cwd=ROOT, env=clean_environment({}), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stderr.split("\ntrace:\n", 1)[1].splitlines()
    tree = [line for line in printed if not line.startswith("agentcreator:")]
    assert _without_durations(tree) == _without_durations(_readme_demo_tree())

    spans = [json.loads(line) for line in trace_file.read_text().splitlines()]
    llm = [s for s in spans if s["attributes"].get("openinference.span.kind") == "LLM"]
    tokens = sum(s["attributes"]["llm.token_count.total"] for s in llm)
    assert f"Phoenix has the whole trace: {len(spans)}/{len(spans)} spans" in README
    assert f"{len(llm)} LLM spans shown as LLM, with token counts ({tokens:,} tokens in all)" in README


def test_the_readme_ping_sample_has_the_fields_ping_answers() -> None:
    sample = re.search(r"curl -s localhost:8080/ping\s+# (\{.*\})\n", README)
    assert sample, "the README shows what /ping answers"
    shown = json.loads(sample.group(1))
    with RuntimeServer({"AGENTCREATOR_LM": "offline"}) as server:
        answered = httpx.get(server.url + "/ping", timeout=5).json()
    assert sorted(shown) == sorted(answered)
    assert sorted(shown["sandbox"]) == ["layers"]
    assert shown["status"] == "Healthy"


def test_the_troubleshooting_sample_is_what_doctor_prints() -> None:
    doc = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    block = doc[doc.index("```\n$ ") + 4:]
    command, *sample = block[: block.index("```")].rstrip("\n").splitlines()
    assert command.endswith(".venv/bin/agentcreator doctor")
    with OtlpSink() as sink:
        sink.respond_with(401)
        env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                                 "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer x"})
        result = subprocess.run([sys.executable, "-m", "agentcreator.cli", "doctor"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1

    def normal(lines: list[str]) -> list[str]:
        lines = [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line) for line in lines]
        # Nothing listens at the collector's health port on a developer's machine or CI's.
        return [re.sub(r"\((ConnectionRefusedError|TimeoutError)[^)]*\)", "(refused)", line) for line in lines]

    assert normal(result.stdout.splitlines()) == normal(sample)
