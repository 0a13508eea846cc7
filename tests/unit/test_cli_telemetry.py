"""``agentcreator run`` under the standard OpenTelemetry switches: stdout stays the agent's JSON,
and a trace that is not recorded is said to be so."""

from __future__ import annotations

import json

import pytest

from agentcreator.cli import main
from tests.unit.conftest import EXAMPLES

SOP = str(EXAMPLES / "sops" / "refund-request.md")
VOICE = str(EXAMPLES / "voices" / "warm-concierge.md")


def _run(capsys) -> tuple[int, dict, str]:
    code = main(["run", "--sop", SOP, "--voice", VOICE, "--agent-id", "agent-123", "--lm", "offline"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err  # stdout must be the agent's JSON and nothing else


def test_debug_spans_go_to_stderr_and_stdout_stays_json(capsys, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_DEBUG", "true")
    code, agent, err = _run(capsys)
    assert code == 0 and len(agent["trace_id"]) == 32
    assert err.count('"name": "AgentCreator Invocation"') == 1  # the console exporter's span, on stderr


@pytest.mark.parametrize(("variable", "value", "reason"), [
    ("OTEL_SDK_DISABLED", "true", "OTEL_SDK_DISABLED=true"),
    ("OTEL_TRACES_SAMPLER", "always_off", "sampled this trace out"),
])
def test_a_trace_that_is_not_recorded_is_said_so(capsys, monkeypatch, variable, value, reason) -> None:
    monkeypatch.setenv(variable, value)
    code, agent, err = _run(capsys)
    assert code == 0 and agent["agent"]["plan"]
    assert agent["trace_id"] is None
    assert "not recorded: " in err and reason in err
    assert "trace_id" not in err.split("trace:")[-1]  # no made-up id printed after the tree either
