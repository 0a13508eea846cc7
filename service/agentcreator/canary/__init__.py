"""The delivery canary: emit a marked trace through the real path, read it back from each backend."""

from agentcreator.canary.emit import CANARY_ATTRIBUTE, Canary, CanarySchedule, emit_canary

__all__ = ["CANARY_ATTRIBUTE", "Canary", "CanarySchedule", "emit_canary"]
