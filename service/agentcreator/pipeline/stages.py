"""Stage spans: the low-cardinality names of the trace contract, with iteration attributes.

A contextvar names the running stage so that anything below it (the offline LM, the code
interpreter) knows where it is without the stage passing it down.
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.trace import Status, StatusCode

from agentcreator.telemetry import get_tracer

if TYPE_CHECKING:
    from collections.abc import Iterator

PARSE_VOICE_PERSONALITY = "Parse Voice Personality"
PARSE_SOP = "Parse SOP"
DRAFT_PLAN = "Draft Plan"
REVIEW_PLAN = "Review Plan"
GENERATE_CODE = "Generate Code"
REVIEW_CODE = "Review Code"
GENERATE_PROMPT = "Generate Prompt"
STAGES = (PARSE_VOICE_PERSONALITY, PARSE_SOP, DRAFT_PLAN, REVIEW_PLAN, GENERATE_CODE, REVIEW_CODE, GENERATE_PROMPT)
ITERATION_ATTRIBUTE = "agentcreator.iteration"


def stage_slug(name: str) -> str:
    """``Review Plan`` → ``review_plan``: the same name in the form options and attributes use."""
    return name.lower().replace(" ", "_")


@dataclass(frozen=True)
class StageRun:
    name: str
    iteration: int | None


current_stage: contextvars.ContextVar[StageRun | None] = contextvars.ContextVar("agentcreator_stage", default=None)


class StageError(RuntimeError):
    """A stage failed; carries the stage name so callers can report it in one line."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"stage {stage!r} failed: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause


@contextmanager
def stage_span(name: str, iteration: int | None = None) -> Iterator[object]:
    """Run one stage under its span; a failure marks the span ERROR and is re-raised as StageError."""
    attributes = {"agentcreator.stage": stage_slug(name)}
    if iteration is not None:
        attributes[ITERATION_ATTRIBUTE] = iteration
    token = current_stage.set(StageRun(name, iteration))
    started = time.perf_counter()
    with get_tracer().start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except StageError:
            span.set_status(Status(StatusCode.ERROR, "a nested stage failed"))
            raise
        except Exception as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:512]))
            raise StageError(name, error) from error
        else:
            span.set_status(Status(StatusCode.OK))
        finally:
            span.set_attribute("agentcreator.stage.duration_ms", round((time.perf_counter() - started) * 1000, 3))
            current_stage.reset(token)
