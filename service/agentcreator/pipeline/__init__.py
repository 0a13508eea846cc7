"""The AgentCreator pipeline: signatures, stages, the module, the offline LM, one invocation."""

from agentcreator.pipeline.invocation import (
    ROOT_SPAN,
    InvocationError,
    InvocationRequest,
    InvocationResult,
    run_invocation,
)

__all__ = ["ROOT_SPAN", "InvocationError", "InvocationRequest", "InvocationResult", "run_invocation"]
