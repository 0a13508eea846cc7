"""Shared fixtures: tests never touch the network, never share telemetry or DSPy state."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable the settings, the OpenTelemetry SDK or openinference read starts unset: a
    developer's shell must not change what tests see."""
    from agentcreator.config import VARIABLES

    for name in [*VARIABLES, *(name for name in os.environ if name.startswith(("OTEL_", "OPENINFERENCE_")))]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _telemetry_torn_down():
    """Every test starts and ends without a configured provider or DSPy instrumentation."""
    from agentcreator import telemetry

    telemetry.shutdown(timeout_s=5)
    yield
    telemetry.shutdown(timeout_s=5)
