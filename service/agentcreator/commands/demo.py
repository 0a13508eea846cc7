"""``agentcreator demo``: the offline pipeline exporting over OTLP into a local Phoenix, then its trace.

Starts Phoenix on 127.0.0.1 (data in a temporary directory unless ``--data-dir``), runs one
invocation with the simulated LM, prints the trace tree, its tokens and cost, and the trace's URL
in Phoenix, checks through Phoenix's REST API that every span arrived and that the app's metrics
reached a small local OTLP metrics receiver (Phoenix takes traces only), and keeps Phoenix up
until Ctrl-C. With
``--exit``, ``CI=true`` or ``DEMO_EXIT=1`` it exits after the check instead: 0 when the whole
trace is in Phoenix, 1 when not, 2 for bad arguments or a missing Phoenix.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from agentcreator.config import Settings
    from agentcreator.metrics_receiver import LocalMetricsReceiver
    from agentcreator.phoenix_server import PhoenixServer

DEMO_LM = "offline:plan_rejections=1,code_rejections=1"
_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
_TRUE = {"1", "true", "yes", "on"}
# Variables that would send the demo's spans (or metrics) somewhere other than the local receivers.
_ROUTING = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL",
            "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST", "OTEL_DEBUG", "OTEL_METRICS_EXPORTER",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")


def _example(relative: str) -> Path:
    """The repository's examples when run from a checkout, else relative to the current directory."""
    path = _EXAMPLES / relative
    return path if path.exists() else Path("examples") / relative


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sop", type=Path, default=_example("sops/refund-request.md"),
                        help="standard operating procedure (default: the refund example)")
    parser.add_argument("--voice", type=Path, default=_example("voices/warm-concierge.md"),
                        help="voice-personality description (default: the warm-concierge example)")
    parser.add_argument("--agent-id", default="demo-agent", help="becomes session.id (default: demo-agent)")
    parser.add_argument("--user-id", default="demo-user", help="becomes user.id (default: demo-user)")
    parser.add_argument("--lm", default=DEMO_LM, help=f"model (default: {DEMO_LM}, simulated, with loops)")
    parser.add_argument("--data-dir", type=Path,
                        help="keep Phoenix's data here (default: a temporary directory removed on exit)")
    parser.add_argument("--exit", action="store_true",
                        help="check the trace in Phoenix and exit instead of serving (also CI=true or DEMO_EXIT=1)")


def exit_requested(args: argparse.Namespace, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return bool(args.exit) or any(env.get(name, "").strip().lower() in _TRUE for name in ("CI", "DEMO_EXIT"))


class _Progress:
    """One status line for long waits: redrawn in place on a terminal, every 5 s in a log."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._printed = -1

    def waiting(self, label: str) -> Callable[[float], None]:
        self._printed = -1

        def tick(elapsed: float) -> None:
            if self._tty:
                spinner = "|/-\\"[int(elapsed * 4) % 4]
                self._stream.write(f"\r  {spinner} {label} … {elapsed:4.0f} s")
                self._stream.flush()
            elif int(elapsed) // 5 > self._printed:
                self._printed = int(elapsed) // 5
                self._stream.write(f"  … {label} ({elapsed:.0f} s)\n")
                self._stream.flush()

        return tick

    def say(self, line: str) -> None:
        if self._tty:
            self._stream.write("\r\033[K")
        self._stream.write(line + "\n")
        self._stream.flush()


def _warm_imports() -> threading.Thread:
    """Import DSPy and the pipeline while Phoenix starts: both take seconds, neither needs the other."""

    def warm() -> None:
        try:
            from agentcreator.pipeline import agent_creator  # noqa: F401
        except Exception:  # the run itself will report the same problem properly
            pass

    thread = threading.Thread(target=warm, name="demo-warmup", daemon=True)
    thread.start()
    return thread


def demo_settings(phoenix_url: str, env: dict[str, str] | os._Environ[str] = os.environ,
                  metrics_url: str | None = None) -> Settings:
    """The product's settings, with OTLP/HTTP traces pointed at Phoenix, metrics at ``metrics_url``
    (none without it: Phoenix takes no metrics) and nothing else routing either."""
    from agentcreator.config import load_settings

    local = {k: v for k, v in env.items() if k not in _ROUTING}
    local["OTEL_EXPORTER_OTLP_ENDPOINT"] = phoenix_url
    if metrics_url:
        local["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = metrics_url
    else:
        local["OTEL_METRICS_EXPORTER"] = "none"
    return load_settings(local)


@dataclass
class DemoRun:
    """What one invocation left behind: its spans as the process saw them, and the outcome."""

    spans: list[Any]
    trace_id: str | None
    result: Any = None
    error: Exception | None = None
    flushed: bool = True
    tree: str = field(default="")


def run_pipeline(settings: Settings, request: Any, stream: TextIO) -> DemoRun:
    """One invocation through the product's own telemetry set-up, flushed to the exporter before returning."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcreator import telemetry
    from agentcreator.pipeline import InvocationError, run_invocation
    from agentcreator.pipeline.stages import STAGES
    from agentcreator.terminal.progress import ProgressSpanProcessor
    from agentcreator.terminal.tree import render_tree

    collected = InMemorySpanExporter()
    telemetry.configure_tracing(settings, extra_exporters=[collected],
                                extra_processors=[ProgressSpanProcessor(stream, STAGES)])
    run = DemoRun(spans=[], trace_id=None)
    try:
        run.result = run_invocation(request, settings)
        run.trace_id = run.result.trace_id
    except InvocationError as error:
        run.error, run.trace_id = error, error.trace_id
    finally:
        run.flushed = telemetry.shutdown(timeout_s=15.0)
        run.spans = list(collected.get_finished_spans())
        run.tree = render_tree(run.spans, STAGES)
    return run


def _llm_spans(spans: Sequence[Any]) -> int:
    """How many of the run's own spans are LLM spans."""
    return sum(1 for span in spans if (span.attributes or {}).get("openinference.span.kind") == "LLM")


@dataclass
class TraceCheck:
    ok: bool
    lines: list[str]


def check_trace(stored: Sequence[dict[str, Any]], local: Sequence[Any], agent_id: str) -> TraceCheck:
    """Compare what Phoenix stored with what the process produced: count, names, session, LLM spans."""
    from agentcreator.pipeline import ROOT_SPAN
    from agentcreator.pipeline.stages import STAGES

    problems: list[str] = []
    if len(stored) != len(local):
        problems.append(f"Phoenix has {len(stored)} of the trace's {len(local)} spans")
    names = {span["name"] for span in stored}
    missing = [name for name in (ROOT_SPAN, *STAGES) if name not in names]
    if missing:
        problems.append(f"missing spans: {', '.join(missing)}")
    without_session = [s["name"] for s in stored if s.get("attributes", {}).get("session.id") != agent_id]
    if without_session:
        problems.append(f"{len(without_session)} spans lack session.id={agent_id} (e.g. {without_session[0]!r})")
    local_llm = _llm_spans(local)
    llm = [s for s in stored if s.get("span_kind") == "LLM"]
    counted = [s for s in llm if (s.get("attributes", {}).get("llm.token_count.total") or 0) > 0]
    if len(llm) != local_llm or len(counted) != len(llm):
        problems.append(f"{len(llm)} LLM spans in Phoenix ({len(counted)} with token counts); the run made {local_llm}")
    if problems:
        return TraceCheck(False, [f"✗ {problem}" for problem in problems])
    tokens = sum(int(s["attributes"]["llm.token_count.total"]) for s in llm)
    return TraceCheck(True, [
        f"✓ Phoenix has the whole trace: {len(stored)}/{len(local)} spans, root and all {len(STAGES)} stages",
        f"✓ {len(llm)} LLM spans shown as LLM, with token counts ({tokens:,} tokens in all)",
        f"✓ session.id={agent_id} on every span",
    ])


def check_metrics(receiver: LocalMetricsReceiver, local: Sequence[Any]) -> TraceCheck:
    """What the local metrics receiver got from the run: the instruments, one invocation, and as
    many LLM calls as the trace has LLM spans."""
    from agentcreator.telemetry.instruments import (
        INSTRUMENTS,
        INVOCATIONS,
        INVOKE_AGENT_DURATION,
        OPERATION_DURATION,
        TOKEN_USAGE,
    )

    names = receiver.names()
    required = {INVOCATIONS, OPERATION_DURATION, TOKEN_USAGE, INVOKE_AGENT_DURATION}
    llm = _llm_spans(local)
    invocations, calls = receiver.total(INVOCATIONS), receiver.total(OPERATION_DURATION)
    problems = []
    if not required <= names:
        problems.append(f"metrics missing from the local OTLP receiver: {', '.join(sorted(required - names))}")
    if invocations != 1 or calls != llm:
        problems.append(f"the receiver counted {invocations:g} invocations and {calls:g} LLM calls; the run made 1 "
                        f"and {llm}")
    if problems:
        return TraceCheck(False, [f"✗ {problem}" for problem in problems])
    known = len(names & set(INSTRUMENTS))
    return TraceCheck(True, [f"✓ metrics reached the local OTLP receiver: {known} of {len(INSTRUMENTS)} instruments, "
                             f"1 invocation, {calls:g} LLM calls"])


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from agentcreator.commands.run import UsageError, read_inputs
    from agentcreator.config import ConfigError
    from agentcreator.phoenix_server import PhoenixServer, phoenix_installed

    err = sys.stderr
    if not phoenix_installed():
        print("agentcreator demo: error: Arize Phoenix is not installed; it is in the `local` dependency group "
              "(run `make demo`, which installs it)", file=err)
        return 2
    try:
        sop, voice = read_inputs(args.sop, args.voice, args.agent_id, args.lm, "--lm")
    except (UsageError, ConfigError) as error:
        print(f"agentcreator demo: error: {error}", file=err)
        return 2
    keep_data = args.data_dir is not None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="agentcreator-phoenix-"))
    phoenix = PhoenixServer(data_dir)
    try:
        return _demo(args, phoenix, sop, voice, exit_requested(args), err)
    except KeyboardInterrupt:
        print("\nagentcreator demo: stopping Phoenix", file=err)
        return 0
    except ConfigError as error:
        print(f"agentcreator demo: error: {error}", file=err)
        return 2
    finally:
        phoenix.stop()
        if not keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


def _demo(args: argparse.Namespace, phoenix: PhoenixServer, sop: str, voice: str, exit_after: bool,
          err: TextIO) -> int:
    from agentcreator.commands.run import usage_line
    from agentcreator.config import SERVICE_NAME
    from agentcreator.metrics_receiver import LocalMetricsReceiver
    from agentcreator.phoenix_server import PhoenixError
    from agentcreator.pipeline import InvocationRequest

    progress = _Progress(err)
    started = time.monotonic()
    _warm_imports()
    print(f"agentcreator demo: starting Arize Phoenix on 127.0.0.1:{phoenix.port} (data in {phoenix.working_dir})",
          file=err)
    try:
        phoenix.start(on_wait=progress.waiting("starting Phoenix (about 16 s; loads ~470 MB)"))
    except PhoenixError as error:
        progress.say(f"agentcreator demo: error: {error}")
        return 1
    rss = phoenix.rss_mb()
    progress.say(f"  ✓ Phoenix ready at {phoenix.url} in {phoenix.started_after_s:.1f} s"
                 + (f", {rss:.0f} MB resident" if rss else ""))

    with LocalMetricsReceiver() as receiver:
        settings = demo_settings(phoenix.url, metrics_url=receiver.metrics_url)
        print(f"agentcreator demo: creating agent {args.agent_id!r} with {args.lm} (SIMULATED offline LM), "
              f"exporting OTLP/HTTP to {settings.otlp_traces_endpoint}", file=err)
        request = InvocationRequest(agent_id=args.agent_id, user_id=args.user_id, sop=sop,
                                    voice_personality=voice, lm=args.lm)
        run = run_pipeline(settings, request, err)  # its shutdown exported the metrics
        metrics = check_metrics(receiver, run.spans)
    print("\ntrace (stage, #iteration, duration, LLM calls, input+output tokens):\n" + run.tree, file=err)
    if run.result is not None:
        print(f"\nagentcreator demo: {usage_line(run.result.usage, args.lm)}", file=err)
    if run.error is not None:
        print(f"\nagentcreator demo: the pipeline failed: {run.error} (its trace is still exported)", file=err)
    if not run.flushed or run.trace_id is None:
        print("agentcreator demo: error: the spans could not be exported to Phoenix in time", file=err)
        return 1

    stored = phoenix.wait_for_spans(SERVICE_NAME, run.trace_id, len(run.spans))
    check = check_trace(stored, run.spans, args.agent_id)
    print(f"\nchecked through Phoenix's API (project {SERVICE_NAME}, trace {run.trace_id}):", file=err)
    for line in check.lines + metrics.lines:
        print(f"  {line}", file=err)
    print(f"\nthe trace in Phoenix: {phoenix.trace_url(SERVICE_NAME, run.trace_id)}", file=err)
    print(f"agentcreator demo: {time.monotonic() - started:.1f} s in all", file=err)
    if exit_after:
        return 0 if check.ok and metrics.ok and run.error is None else 1
    print(f"\nPhoenix keeps running at {phoenix.url}; press Ctrl-C to stop it.", file=err)
    while phoenix.proc is not None and phoenix.proc.poll() is None:
        time.sleep(0.5)
    print(f"agentcreator demo: Phoenix stopped unexpectedly; last lines of its log:\n{phoenix.log_tail()}", file=err)
    return 1
