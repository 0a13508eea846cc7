"""``agentcreator run``: one invocation from files, with progress, a JSON result and a trace tree.

Exit codes: 0 success, 1 the pipeline failed (its trace is still exported), 2 bad arguments
or unreadable files (one line on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan

    from agentcreator.config import Settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sop", required=True, type=Path, help="standard operating procedure (Markdown)")
    parser.add_argument("--voice", required=True, type=Path, help="voice-personality description")
    parser.add_argument("--agent-id", required=True, help="id of the agent to create; becomes session.id")
    parser.add_argument("--user-id", help="who asked for it; becomes user.id")
    parser.add_argument("--lm", help="LiteLLM model string, or offline[:options] (default: AGENTCREATOR_LM)")
    parser.add_argument("--trace-file", type=Path, help="write every finished span as one JSON line")
    parser.add_argument("--output", type=Path, help="write the agent definition here instead of stdout")


class UsageError(Exception):
    """Bad input: reported as one line with exit code 2."""


def _read(path: Path, what: str, limit: int) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {what} file {str(path)!r}: {error.strerror or error}") from None
    if len(data) > limit:
        raise UsageError(f"{what} file {str(path)!r} is {len(data):,} bytes; the limit is {limit:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} file {str(path)!r} is not UTF-8 text") from None
    if not text.strip():
        raise UsageError(f"{what} file {str(path)!r} is empty")
    return text


def read_inputs(sop: Path, voice: Path, agent_id: str, model: str, model_source: str) -> tuple[str, str]:
    """Validate what ``run`` and ``demo`` take from the command line; raise UsageError/ConfigError."""
    from agentcreator.pipeline.limits import MAX_SOP_BYTES, MAX_VOICE_BYTES, agent_id_problem
    from agentcreator.pipeline.lm import validate_model

    validate_model(model, model_source)
    problem = agent_id_problem(agent_id)
    if problem:
        raise UsageError(f"--agent-id: {problem}")
    return _read(sop, "SOP", MAX_SOP_BYTES), _read(voice, "voice", MAX_VOICE_BYTES)


def _open_for_writing(path: Path, what: str) -> TextIO:
    try:
        return path.open("w", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {what} {str(path)!r}: {error.strerror or error}") from None


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from agentcreator.config import ConfigError, load_settings

    trace_stream: TextIO | None = None
    try:
        settings = load_settings()
        model = args.lm or settings.lm
        sop, voice = read_inputs(args.sop, args.voice, args.agent_id, model, "--lm" if args.lm else "AGENTCREATOR_LM")
        if args.trace_file:
            trace_stream = _open_for_writing(args.trace_file, "trace file")
        if args.output:
            _open_for_writing(args.output, "output file").close()
    except (UsageError, ConfigError) as error:
        print(f"agentcreator run: error: {error}", file=sys.stderr)
        return 2
    return _run(args, settings, model, sop, voice, trace_stream)


def _run(args: argparse.Namespace, settings: Settings, model: str, sop: str, voice: str,
         trace_stream: TextIO | None) -> int:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcreator import telemetry
    from agentcreator.pipeline import InvocationError, InvocationRequest, run_invocation
    from agentcreator.pipeline.lm import is_offline
    from agentcreator.pipeline.stages import STAGES
    from agentcreator.telemetry.export import JsonLinesSpanExporter
    from agentcreator.terminal.progress import ProgressSpanProcessor
    from agentcreator.terminal.tree import render_tree

    collected = InMemorySpanExporter()
    dropped_before = telemetry.dropped_span_count()
    exporters = [collected] + ([JsonLinesSpanExporter(trace_stream)] if trace_stream else [])
    telemetry.configure_tracing(
        settings, extra_exporters=exporters, extra_processors=[ProgressSpanProcessor(sys.stderr, STAGES)]
    )
    simulated = " (SIMULATED offline LM)" if is_offline(model) else ""
    print(f"agentcreator: creating agent {args.agent_id!r} with {model}{simulated}", file=sys.stderr)
    request = InvocationRequest(agent_id=args.agent_id, user_id=args.user_id, sop=sop,
                                voice_personality=voice, lm=model)
    failure: InvocationError | None = None
    result = None
    try:
        result = run_invocation(request, settings)
    except InvocationError as error:
        failure = error
    finally:
        spans = collected.get_finished_spans()
        trace_id = failure.trace_id if failure is not None else result.trace_id if result is not None else ""
        unrecorded = _not_recorded(settings, spans, trace_id)
        print("\ntrace:\n" + (unrecorded or render_tree(spans, STAGES)), file=sys.stderr)
        flushed = telemetry.shutdown(timeout_s=10.0)
        if trace_stream is not None:
            trace_stream.close()
    if not flushed:
        print("agentcreator run: warning: some spans or metrics could not be exported in time", file=sys.stderr)
    if dropped := telemetry.dropped_span_count() - dropped_before:
        print(f"agentcreator run: warning: {dropped} of the trace's {len(spans)} spans did not reach "
              f"{settings.shown_traces_endpoint}: the trace there is incomplete or missing", file=sys.stderr)
    shown_trace = "trace not recorded" if unrecorded else f"trace_id {trace_id}"
    if failure is not None:
        print(f"agentcreator run: error: {failure} ({shown_trace}, error_id {failure.error_id})", file=sys.stderr)
        return 1
    assert result is not None
    output = result.to_dict()
    if unrecorded:
        output["trace_id"] = None  # no backend will ever have the id the API made up
    text = json.dumps(output, indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"agentcreator: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    print(f"agentcreator: {usage_line(result.usage, model)}", file=sys.stderr)
    print(f"agentcreator: {shown_trace}", file=sys.stderr)
    return 0


def usage_line(usage: dict, model: str) -> str:
    """The invocation's LLM calls, tokens and cost, as one line for people."""
    from agentcreator.pipeline.lm import is_offline, pricing_model

    calls, tokens = usage["llm_calls"], f"{usage['input_tokens']:,} in + {usage['output_tokens']:,} out tokens"
    cost = usage.get("cost_usd")
    if cost is None:
        priced = "cost unknown (no price for this model in LiteLLM's cost map)"
    elif is_offline(model):
        priced = f"cost ${cost:.6f} (SIMULATED: offline tokens priced as {pricing_model(model)})"
    else:
        priced = f"cost ${cost:.6f}"
    return f"{calls} LLM call{'s' if calls != 1 else ''}, {tokens}, {priced}"


def _not_recorded(settings: Settings, spans: Sequence[ReadableSpan], trace_id: str) -> str:
    """Why the invocation's trace was not recorded, or "" when it was: the local exporter gets
    exactly the sampled spans every exporter gets."""
    from opentelemetry.trace import format_trace_id

    if any(format_trace_id(span.context.trace_id) == trace_id for span in spans):
        return ""
    if settings.sdk_disabled:
        return "not recorded: OTEL_SDK_DISABLED=true turns tracing off (no trace id, nothing exported)"
    return ("not recorded: the sampler (OTEL_TRACES_SAMPLER) sampled this trace out; its id exists in no "
            "backend")
