"""HTTP runtime: the Bedrock AgentCore contract (``POST /invocations``, ``GET /ping``) over the pipeline.

``create_app`` is loaded on first use, so the CLI can list ``serve`` without importing Starlette.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from agentcreator.runtime.app import create_app

        return create_app
    raise AttributeError(name)
