"""The Bedrock path as users run it: ``agentcreator run`` and ``agentcreator serve`` as real
processes, configured only by environment (fake credentials, AWS_ENDPOINT_URL_BEDROCK_RUNTIME
at a local Converse server), with the trace read back from the file or the OTLP sink.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.bedrock_server import sigv4_signature_valid
from tests.support.otlp_sink import OtlpSink
from tests.support.runtime_server import RuntimeServer, clean_environment

pytestmark = pytest.mark.slow

MODEL = "bedrock/amazon.nova-pro-v1:0"
ROOT = "AgentCreator Invocation"
SOP = "# Refund\n1. Verify the caller's identity.\n2. Look up the order.\n3. Issue the refund and send a receipt.\n"
VOICE = "Warm, calm and concise; never uses jargon."
REPO = Path(__file__).resolve().parents[2]


def _cli_run(tmp_path: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list]:
    (tmp_path / "sop.md").write_text(SOP)
    (tmp_path / "voice.md").write_text(VOICE)
    trace_file = tmp_path / "t.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "agentcreator.cli", "run", "--sop", str(tmp_path / "sop.md"),
         "--voice", str(tmp_path / "voice.md"), "--agent-id", "agent-123", "--lm", MODEL,
         "--trace-file", str(trace_file)],
        env=clean_environment(extra_env or {}), cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    spans = [json.loads(line) for line in trace_file.read_text().splitlines()] if trace_file.exists() else []
    return completed, spans


def _llm(spans: list[dict]) -> list[dict]:
    return [s for s in spans if s["attributes"].get("openinference.span.kind") == "LLM"]


def test_cli_run_against_bedrock_signs_requests_and_traces_the_servers_token_counts(bedrock, tmp_path):
    completed, spans = _cli_run(tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert bedrock.exchanges and all(e.model_id == "amazon.nova-pro-v1:0" for e in bedrock.exchanges)
    assert all(sigv4_signature_valid(e, bedrock.endpoint) for e in bedrock.exchanges)
    llm = _llm(spans)
    assert len(llm) == len(bedrock.exchanges)
    for span in llm:
        a = span["attributes"]
        assert a["gen_ai.system"] == a["gen_ai.provider.name"] == "aws.bedrock"
        assert a["gen_ai.request.model"] == "amazon.nova-pro-v1:0"
        assert a["session.id"] == "agent-123"
    reported = Counter((a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.total_tokens"])
                       for a in (s["attributes"] for s in llm))
    assert reported == Counter(bedrock.reported_usage)
    (root,) = [s for s in spans if s["name"] == ROOT]
    assert root["attributes"]["agentcreator.usage.total_tokens"] == sum(t for _, _, t in bedrock.reported_usage)
    result = json.loads(completed.stdout)
    assert result["usage"]["llm_calls"] == len(bedrock.exchanges) and result["simulated"] is False


def test_cli_run_exits_non_zero_with_one_line_when_bedrock_keeps_throttling(bedrock, tmp_path):
    bedrock.fail("throttling", times=None, field="plan")
    completed, spans = _cli_run(tmp_path, {"AGENTCREATOR_LM_RETRIES": "1", "AGENTCREATOR_LM_RETRY_MAX_DELAY_S": "0.1"})
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    (root,) = [s for s in spans if s["name"] == ROOT]  # the trace was exported all the same
    assert root["status"]["status_code"] == "ERROR"
    (failed,) = [s for s in _llm(spans) if s["status"]["status_code"] == "ERROR"]
    assert failed["attributes"]["agentcreator.lm.retries"] == 1
    assert [e["name"] for e in failed["events"]].count("agentcreator.lm.retry") == 1
    assert [e.status for e in bedrock.exchanges if "plan" in e.output_fields] == [429, 429]
    after = completed.stderr.split("agentcreator run: error:", 1)[1].rstrip("\n")
    assert "\n" not in after, completed.stderr  # one line: stage, cause, trace id
    assert "Draft Plan" in after and root["context"]["trace_id"][2:] in after


def test_serve_answers_502_with_the_trace_id_when_bedrock_fails_and_exports_the_trace(bedrock):
    bedrock.fail("validation", times=None, field="plan")
    with OtlpSink() as sink, RuntimeServer({
        "AGENTCREATOR_LM": MODEL, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
    }, start_timeout=30) as server:
        response = httpx.post(server.url + "/invocations", timeout=120, json={
            "agent_id": "agent-123", "sop": SOP, "voice_personality": VOICE})
        assert response.status_code == 502, response.text
        body = response.json()
        assert body["stage"] == "Draft Plan" and len(body["trace_id"]) == 32
        spans = sink.wait_for(lambda spans: any(
            s["trace_id"] == body["trace_id"] and s["name"] == ROOT for s in spans), timeout=20)
    mine = [s for s in spans if s["trace_id"] == body["trace_id"]]
    (root,) = [s for s in mine if s["name"] == ROOT]
    assert root["status_code"] == "ERROR"
    llm = _llm(mine)
    assert llm and all(s["attributes"]["gen_ai.system"] == "aws.bedrock" for s in llm)
    assert [s["status_code"] for s in llm].count("ERROR") == 1
    assert all(sigv4_signature_valid(e, bedrock.endpoint) for e in bedrock.exchanges)
