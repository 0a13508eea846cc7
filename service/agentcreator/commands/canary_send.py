"""``agentcreator canary send``: one canary trace through this machine's telemetry settings.

It goes wherever ``OTEL_EXPORTER_OTLP_*`` or ``LANGFUSE_*`` send spans from here, through the
same provider, processors and exporter the service uses; the command waits for the export and
prints the trace id to give ``agentcreator canary check``. Exit 0 when the exporter took it, 1
when it did not, 2 when nothing is configured to send it to.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="environment named on the canary (default: ENVIRONMENT, else production)")
    parser.add_argument("--flush-timeout", type=float, default=15.0, metavar="S",
                        help="seconds to wait for the export (default 15)")


def run(args: argparse.Namespace) -> int:
    from agentcreator.config import ConfigError, load_settings

    prog = "agentcreator canary send"
    try:
        settings = load_settings(**({"environment": args.env} if args.env else {}))
    except ConfigError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    if not settings.otlp_traces_endpoint:
        print(f"{prog}: error: no OTLP endpoint is configured (set OTEL_EXPORTER_OTLP_ENDPOINT, "
              "or LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)", file=sys.stderr)
        return 2
    from agentcreator import telemetry
    from agentcreator.canary.emit import emit_canary

    telemetry.configure_tracing(settings, instrument_dspy=False)
    before = telemetry.dropped_span_count()
    canary = emit_canary(settings)
    flushed = telemetry.shutdown(args.flush_timeout)
    lost = telemetry.dropped_span_count() - before
    if not flushed or lost:
        why = f"{lost} span(s) failed to export" if lost else f"the export did not finish in {args.flush_timeout:g} s"
        print(f"{prog}: not sent to {settings.otlp_traces_endpoint}: {why}", file=sys.stderr)
        return 1
    print(f"sent canary trace {canary.trace_id} (session {canary.session_id}) to {settings.otlp_traces_endpoint}")
    print(f"check it:  agentcreator canary check --env {settings.environment} --trace-id {canary.trace_id} "
          f"--sent-at {canary.emitted_at:.3f}")
    return 0
