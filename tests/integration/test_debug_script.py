"""The debug command, ``python -m scripts.test_pipeline``, run as a user runs it from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_python_m_scripts_test_pipeline_prints_spans_to_stderr_and_the_agent_to_stdout() -> None:
    env = {"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OTEL_DEBUG": "true",
           "HOME": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "scripts.test_pipeline"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    agent = json.loads(done.stdout)  # stdout is the agent definition alone
    assert agent["simulated"] is True and agent["agent_id"] == "agent-123"
    assert done.stderr.count('"name": "AgentCreator Invocation"') == 1  # the console exporter's spans
    assert f'"trace_id": "0x{agent["trace_id"]}"' in done.stderr
    assert '"session.id": "agent-123"' in done.stderr and '"user.id": "user-456"' in done.stderr
