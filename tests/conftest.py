"""Shared fixtures: tests never touch the network, never share telemetry or DSPy state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Variables a developer's shell may carry that would change what the tests see.
_AMBIENT = (
    "ENVIRONMENT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_DEBUG", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST",
    "AGENTCREATOR_LM", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "AGENTCREATOR_MAX_CONTENT_BYTES",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _telemetry_torn_down():
    """Every test starts and ends without a configured provider or DSPy instrumentation."""
    from agentcreator import telemetry

    telemetry.shutdown(timeout_s=5)
    yield
    telemetry.shutdown(timeout_s=5)
