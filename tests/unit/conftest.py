"""Fixtures for running the offline pipeline under an in-memory exporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOP = (EXAMPLES / "sops" / "refund-request.md").read_text()
VOICE = (EXAMPLES / "voices" / "warm-concierge.md").read_text()


@dataclass
class Run:
    spans: list
    result: object
    error: Exception | None
    metrics: list = field(default_factory=list)  # (name, attributes, point) of every data point


def metric_points(reader) -> list:
    """``(name, attributes, point)`` for every data point an InMemoryMetricReader holds."""
    data = reader.get_metrics_data()
    return [(metric.name, dict(point.attributes), point)
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics for metric in scope.metrics for point in metric.data.data_points]


def run_pipeline(lm: str, env: dict[str, str] | None = None, **request_fields: str) -> Run:
    """Configure telemetry with in-memory span and metric readers, run one invocation, tear down."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentcreator import telemetry
    from agentcreator.config import load_settings
    from agentcreator.pipeline import InvocationError, InvocationRequest, run_invocation

    settings = load_settings(env or {})
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry.configure_tracing(settings, extra_exporters=[exporter], extra_metric_readers=[reader])
    fields = {"agent_id": "agent-123", "user_id": "user-456", "sop": SOP, "voice_personality": VOICE}
    fields.update(request_fields)
    result, error = None, None
    try:
        result = run_invocation(InvocationRequest(**fields, lm=lm), settings)
    except InvocationError as failure:
        error = failure
    finally:
        points = metric_points(reader)
        telemetry.shutdown(timeout_s=5)
    return Run(list(exporter.get_finished_spans()), result, error, points)


@pytest.fixture(scope="module")
def full_run() -> Run:
    """The loops driven to their limits: 4 plan drafts and 3 code generations."""
    return run_pipeline("offline:plan_rejections=4,code_rejections=3")
