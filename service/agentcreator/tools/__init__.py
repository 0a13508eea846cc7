"""Tools the pipeline's agents may call."""

from agentcreator.tools.code_interpreter import SandboxResult, run_python

__all__ = ["SandboxResult", "run_python"]
