"""``agentcreator run`` in-process: output, trace file format, exit codes, no secrets."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from agentcreator.cli import main
from tests.unit.conftest import EXAMPLES

SOP = str(EXAMPLES / "sops" / "refund-request.md")
VOICE = str(EXAMPLES / "voices" / "warm-concierge.md")
FAKE_SECRET = "sk-lf-00000000-fake-secret-for-tests"


def _run(*extra: str) -> int:
    return main(["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "agent-123", *extra])


def test_run_writes_agent_json_trace_tree_and_trace_file(tmp_path, capsys, monkeypatch) -> None:
    # credentials in the environment must reach no span and no output
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-fake")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", FAKE_SECRET)
    monkeypatch.setenv("LANGFUSE_HOST", "http://127.0.0.1:9")  # nothing listens: export fails, run must not
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-aws-secret-for-tests")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    trace_file = tmp_path / "t.jsonl"
    code = _run("--user-id", "user-456", "--lm", "offline:plan_rejections=4,code_rejections=3",
                "--trace-file", str(trace_file))
    out, err = capsys.readouterr()
    assert code == 0
    agent = json.loads(out)
    assert set(agent["agent"]) == {"plan", "code", "system_prompt"}
    assert agent["iterations"]["Draft Plan"] == 4 and agent["iterations"]["Generate Code"] == 3
    assert agent["usage"]["total_tokens"] > 0 and agent["simulated"] is True
    assert agent["usage"]["cost_usd"] > 0
    tokens = f"{agent['usage']['input_tokens']:,} in + {agent['usage']['output_tokens']:,} out tokens"
    cost = f"cost ${agent['usage']['cost_usd']:.6f} (SIMULATED"
    assert f"{agent['usage']['llm_calls']} LLM calls, {tokens}, {cost}" in err
    assert "✓ Review Plan #4" in err and "trace:" in err and "AgentCreator Invocation" in err

    lines = trace_file.read_text().splitlines()
    spans = [json.loads(line) for line in lines]
    for span in spans:
        assert {"name", "context", "parent_id", "attributes", "resource", "status"} <= set(span)
        assert {"trace_id", "span_id"} <= set(span["context"])
        assert span["resource"]["attributes"]["service.name"] == "agentcreator-meta-agent"
    assert len({span["context"]["trace_id"] for span in spans}) == 1
    assert agent["trace_id"] == spans[0]["context"]["trace_id"].removeprefix("0x")
    counts = Counter(span["name"] for span in spans)
    assert counts["Draft Plan"] == 4 and counts["Review Code"] == 3 and counts["AgentCreator Invocation"] == 1
    text = trace_file.read_text() + out + err
    assert FAKE_SECRET not in text and "fake-aws-secret-for-tests" not in text and "Basic " not in text


def test_spans_the_endpoint_refused_are_counted_in_one_warning_line(tmp_path, capsys, monkeypatch) -> None:
    """The invocation succeeded, so the exit code stays 0, but the user learns the trace is not
    where they will look for it; the endpoint is shown without its credentials."""
    from tests.support.otlp_sink import OtlpSink

    trace_file = tmp_path / "t.jsonl"
    with OtlpSink() as sink:
        sink.respond_with(400)  # a permanent refusal: no retry
        base = sink.endpoint.replace("http://", "http://user:fake-password@")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        assert _run("--lm", "offline", "--trace-file", str(trace_file)) == 0
    err = capsys.readouterr().err
    spans = len(trace_file.read_text().splitlines())
    warning = (f"agentcreator run: warning: {spans} of the trace's {spans} spans did not reach "
               f"{sink.endpoint}/v1/traces: the trace there is incomplete or missing")
    assert [line for line in err.splitlines() if "warning:" in line] == [warning]
    assert "fake-password" not in err


def test_output_option_writes_the_file(tmp_path, capsys) -> None:
    target = tmp_path / "agent.json"
    assert _run("--lm", "offline", "--output", str(target)) == 0
    assert json.loads(target.read_text())["agent_id"] == "agent-123"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--sop", "/nonexistent.md", "--voice", VOICE, "--agent-id", "a"], "cannot read SOP file"),
        (["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "bad id!"], "--agent-id"),
        (["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "a", "--lm", "offline:bogus=1"],
         "unknown offline option"),
        (["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "a", "--lm", "offline:fail_stage=nope"], "fail_stage"),
        (["run", "--sop", SOP, "--voice", VOICE], "--agent-id"),
        (["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "a", "--trace-file", "/nonexistent/dir/t.jsonl"],
         "cannot write trace file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, expected, capsys) -> None:
    try:
        code = main(args)
    except SystemExit as exited:  # argparse's own errors
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_environment_exits_2_naming_the_variable(monkeypatch, capsys) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    assert _run("--lm", "offline") == 2
    err = capsys.readouterr().err
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in err and len(err.strip().splitlines()) == 1


def test_pipeline_failure_exits_1_with_one_error_line_and_exports_the_trace(tmp_path, capsys) -> None:
    trace_file = tmp_path / "t.jsonl"
    assert _run("--lm", "offline:fail_stage=generate_prompt", "--trace-file", str(trace_file)) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Generate Prompt" in errors[0] and "trace_id" in errors[0]
    spans = [json.loads(line) for line in trace_file.read_text().splitlines()]
    root = next(span for span in spans if span["name"] == "AgentCreator Invocation")
    assert root["status"]["status_code"] == "ERROR"
    assert "Traceback" not in err
