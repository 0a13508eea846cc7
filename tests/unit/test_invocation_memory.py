"""An invocation keeps nothing of its caller's content once it ends: DSPy's process-wide trace
list (for optimizers) is not where its Predict calls are recorded."""

from __future__ import annotations

import dspy
import pytest

from tests.unit.conftest import run_pipeline


@pytest.fixture
def global_trace():
    """DSPy's process-wide trace list, emptied for the test and restored after."""
    trace = dspy.settings.trace
    saved = list(trace)
    trace.clear()
    yield trace
    trace[:] = saved


def test_predict_calls_are_not_kept_in_dspys_process_wide_trace(global_trace) -> None:  # noqa: ANN001
    run = run_pipeline("offline:plan_rejections=1,code_rejections=1")
    assert run.error is None
    assert run.result.usage["llm_calls"] >= 9
    assert global_trace == []


def test_a_dspy_context_trace_list_would_catch_predict_calls(global_trace) -> None:  # noqa: ANN001
    """The check above can fail: outside the pipeline's own context, Predict calls land in the
    process-wide list."""
    lm = dspy.utils.DummyLM([{"answer": "42"}])
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="?")
    assert len(global_trace) == 1
