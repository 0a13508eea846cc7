"""The pipeline exporting over OTLP/HTTP into a real Arize Phoenix on 127.0.0.1, read back through
Phoenix's REST API: every span arrives, with the contract's names, the session, and LLM spans
that Phoenix shows as LLM spans with token counts."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from urllib.request import urlopen

import pytest

from agentcreator.cli import main
from agentcreator.config import SERVICE_NAME
from agentcreator.phoenix_server import PhoenixServer, phoenix_installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not phoenix_installed(), reason="arize-phoenix (dependency group `local`) is not installed"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AGENT_ID, USER_ID = "refund-agent.phoenix-test", "user-phoenix"
CONTRACT = ("AgentCreator Invocation", "Parse Voice Personality", "Parse SOP", "Draft Plan", "Review Plan",
            "Generate Code", "Code Interpreter Tool", "Review Code", "Generate Prompt")


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory):
    with PhoenixServer(tmp_path_factory.mktemp("phoenix")) as server:
        yield server


@pytest.fixture(scope="module")
def metrics_receiver():
    from agentcreator.metrics_receiver import LocalMetricsReceiver

    with LocalMetricsReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def run(phoenix: PhoenixServer, metrics_receiver):
    """One invocation with both loops taken twice, exported by the product's own telemetry set-up."""
    from agentcreator.commands.demo import demo_settings, run_pipeline
    from agentcreator.pipeline import InvocationRequest

    request = InvocationRequest(
        agent_id=AGENT_ID, user_id=USER_ID, lm="offline:plan_rejections=1,code_rejections=1",
        sop=(EXAMPLES / "sops" / "refund-request.md").read_text(),
        voice_personality=(EXAMPLES / "voices" / "warm-concierge.md").read_text(),
    )
    settings = demo_settings(phoenix.url, env={}, metrics_url=metrics_receiver.metrics_url)
    result = run_pipeline(settings, request, io.StringIO())
    assert result.error is None and result.flushed and result.trace_id
    return result


@pytest.fixture(scope="module")
def stored(phoenix: PhoenixServer, run) -> list[dict]:
    return phoenix.wait_for_spans(SERVICE_NAME, run.trace_id, len(run.spans))


def test_phoenix_stores_exactly_the_spans_the_process_made(run, stored):
    assert len(run.spans) > 20
    assert len(stored) == len(run.spans)
    assert {s["context"]["span_id"] for s in stored} == {format(s.context.span_id, "016x") for s in run.spans}


def test_contract_span_names_arrive_once_per_stage_run(run, stored):
    local = Counter(s.name for s in run.spans if s.name in CONTRACT)
    assert Counter(s["name"] for s in stored if s["name"] in CONTRACT) == local
    assert local["AgentCreator Invocation"] == 1
    assert local["Draft Plan"] == local["Review Plan"] == 2
    assert local["Generate Code"] == local["Review Code"] == 2


def test_one_root_and_no_orphans(stored):
    ids = {s["context"]["span_id"] for s in stored}
    roots = [s for s in stored if s["parent_id"] is None]
    assert [s["name"] for s in roots] == ["AgentCreator Invocation"]
    assert all(s["parent_id"] in ids for s in stored if s is not roots[0])


def test_every_span_carries_the_session_and_the_user(phoenix, run, stored):
    assert {s["attributes"].get("session.id") for s in stored} == {AGENT_ID}
    assert {s["attributes"].get("user.id") for s in stored} == {USER_ID}
    by_session = phoenix.spans(SERVICE_NAME, attribute=f"session.id:{AGENT_ID}")
    assert len(by_session) == len(run.spans)


def test_llm_spans_show_as_llm_with_token_counts(phoenix, run, stored):
    local_llm = [s for s in run.spans if (s.attributes or {}).get("openinference.span.kind") == "LLM"]
    llm = phoenix.spans(SERVICE_NAME, trace_id=run.trace_id, span_kind="LLM")
    assert len(llm) == len(local_llm) == sum(1 for s in stored if s["span_kind"] == "LLM") >= len(CONTRACT) - 2
    for span in llm:
        attributes = span["attributes"]
        assert attributes["llm.token_count.prompt"] > 0 and attributes["llm.token_count.completion"] > 0
        assert attributes["llm.token_count.total"] == (
            attributes["llm.token_count.prompt"] + attributes["llm.token_count.completion"]
        )
        assert attributes["gen_ai.usage.input_tokens"] == attributes["llm.token_count.prompt"]
        assert "simulated" in attributes["gen_ai.system"]
    root = next(s for s in stored if s["parent_id"] is None)
    assert root["attributes"]["agentcreator.usage.total_tokens"] == sum(
        s["attributes"]["llm.token_count.total"] for s in llm
    )


def test_the_demo_check_agrees_and_the_trace_page_is_served(phoenix, run, stored):
    from agentcreator.commands.demo import check_trace

    verdict = check_trace(stored, run.spans, AGENT_ID)
    assert verdict.ok, verdict.lines
    url = phoenix.trace_url(SERVICE_NAME, run.trace_id)
    assert url.startswith(phoenix.url + "/projects/") and url.endswith("/traces/" + run.trace_id)
    with urlopen(url, timeout=10) as page:  # noqa: S310 - loopback
        assert page.status == 200 and b"<html" in page.read().lower()


def test_doctor_passes_against_phoenix(phoenix, capsys, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", phoenix.url)
    code = main(["doctor", "--timeout", "2", "--health-url", "http://127.0.0.1:9/"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and "accepted an empty OTLP export" in out
    # Phoenix takes traces only: the app's metrics would not be received, which is a warning
    (metrics,) = [line for line in out.splitlines() if line.split()[1:2] == ["metrics"]]
    assert metrics.split()[0] == "WARN" and "HTTP 405" in metrics and "traces only" in out


def test_the_demos_metrics_reach_the_local_receiver_and_not_phoenix(run, metrics_receiver):
    from agentcreator.commands.demo import check_metrics, demo_settings

    verdict = check_metrics(metrics_receiver, run.spans)
    assert verdict.ok, verdict.lines
    assert "✓ metrics reached the local OTLP receiver: 9 of 9 instruments, 1 invocation" in verdict.lines[0]
    assert metrics_receiver.total("agentcreator.invocations", **{"agentcreator.outcome": "success"}) == 1
    # without a receiver the demo exports no metrics: Phoenix would refuse them (405)
    assert not demo_settings("http://127.0.0.1:9", env={}).exports_otlp_metrics


def test_demo_without_phoenix_fails_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr("agentcreator.phoenix_server.phoenix_installed", lambda: False)
    assert main(["demo", "--exit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Phoenix is not installed" in err[0] and "local" in err[0]
