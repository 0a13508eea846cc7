"""The debug command: run the pipeline once on the examples and print every span to the
console.

    OTEL_DEBUG=true .venv/bin/python -m scripts.test_pipeline
    OTEL_DEBUG=true .tools/bin/uv run --no-sync python -m scripts.test_pipeline   # plain `uv run` re-syncs .venv

The agent definition goes to stdout, spans (the console exporter) and progress to stderr. The
LM is the simulated offline one unless ``AGENTCREATOR_LM`` names another; an OTLP endpoint in
the environment receives the trace as well.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> int:
    os.environ.setdefault("OTEL_DEBUG", "true")  # this command is for looking at spans
    from agentcreator.cli import main as agentcreator

    lm = [] if os.environ.get("AGENTCREATOR_LM", "").strip() else ["--lm", "offline"]
    return agentcreator(["run", "--sop", str(EXAMPLES / "sops" / "refund-request.md"),
                         "--voice", str(EXAMPLES / "voices" / "warm-concierge.md"),
                         "--agent-id", "agent-123", "--user-id", "user-456", *lm])


if __name__ == "__main__":
    sys.exit(main())
