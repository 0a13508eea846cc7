"""The tracer provider: resource, exporters, processors and DSPy instrumentation, set up once.

``configure_tracing`` is idempotent and ``shutdown`` undoes it (flushing within a bound),
so a process, a test or a benchmark can configure, run and tear down cleanly.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from agentcreator import __version__
from agentcreator.config import SERVICE_NAME, Settings, grpc_compression, grpc_endpoint
from agentcreator.telemetry.baggage import session_baggage_processor
from agentcreator.telemetry.export import DropCounter, DropCountingBatchSpanProcessor
from agentcreator.telemetry.genai import GenAiSpanExporter
from agentcreator.telemetry.ids import ProcessRandomIdGenerator
from agentcreator.telemetry.metrics import configure_metrics, shutdown_metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from openinference.instrumentation import TraceConfig
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.util.types import AttributeValue

_log = logging.getLogger(__name__)
_TRACER_NAME = "agentcreator"


class _State:
    """What configure_tracing built, so shutdown can undo exactly that."""

    lock = threading.Lock()
    provider: TracerProvider | None = None
    instrumentor: object | None = None
    tracer: trace.Tracer | None = None
    tracer_provider: TracerProvider | None = None
    undo: list[Callable[[], None]] = []  # patches made while configuring, undone by shutdown
    capture_content = True
    trace_config: TraceConfig | None = None  # built on first use: importing openinference takes ~70 ms
    instrument = True
    disabled = False  # OTEL_SDK_DISABLED: configure_tracing installed nothing
    drops = DropCounter()


def build_resource(settings: Settings) -> Resource:
    """The SDK's resource (``OTEL_RESOURCE_ATTRIBUTES``, then ``OTEL_SERVICE_NAME`` over it), with
    our defaults only for what those leave unset: ``ENVIRONMENT`` names the deployment
    environment unless the standard variable already does."""
    standard = OTELResourceDetector().detect().attributes
    environment = standard.get("deployment.environment.name") or standard.get("deployment.environment")
    defaults = {
        "service.name": SERVICE_NAME,
        "service.version": __version__,
        "deployment.environment": environment or settings.environment,
        "deployment.environment.name": environment or settings.environment,
        "openinference.project.name": SERVICE_NAME,
    }
    return Resource.create({key: value for key, value in defaults.items() if key not in standard})


def build_otlp_exporter(settings: Settings, *, probe: bool = False, **overrides: Any) -> tuple[SpanExporter, bool]:
    """The SDK's OTLP exporter for the settings' protocol and endpoint; everything else
    (timeout, certificates, compression, headers) it resolves from the standard variables
    itself. Also says whether it encodes with ``otlp_encoding`` (and so takes ``Utf8Text``).
    ``doctor`` builds the same one with ``probe`` (our encoder left out: it sends no span) and
    ``overrides`` (its own timeout, a recording session) to see what it really sends."""
    headers = dict(settings.otlp_headers) if settings.langfuse_headers else None
    from agentcreator.telemetry import otlp_encoding  # imports the OTLP protobufs: only when exporting

    if settings.otlp_protocol == "grpc":
        exporter_class, encoded = otlp_encoding.grpc_span_exporter_class()
        exporter = exporter_class(
            endpoint=grpc_endpoint(settings.otlp_traces_endpoint or ""),
            headers=headers,
            compression=grpc_compression(settings.otlp_compression),
            **overrides,
        )
        return exporter, encoded
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    encoded = False if probe else otlp_encoding.install()
    if encoded:
        _State.undo.append(otlp_encoding.uninstall)
    return HttpExporter(endpoint=settings.otlp_traces_endpoint, headers=headers, **overrides), encoded


def _trace_config() -> TraceConfig:
    """What content spans may carry, openinference's ``TraceConfig``; made on first use, off the
    server's start-up path."""
    config = _State.trace_config
    if config is None:
        from openinference.instrumentation import TraceConfig

        # Content off hides it all; otherwise None leaves each switch to openinference's own
        # OPENINFERENCE_HIDE_* variables (e.g. the message copies of the prompt, see the README).
        hide = True if not _State.capture_content else None
        config = _State.trace_config = TraceConfig(
            hide_inputs=hide, hide_outputs=hide, hide_input_messages=hide, hide_output_messages=hide
        )
    return config


def _instrument_dspy(provider: TracerProvider, config: TraceConfig) -> object:
    from agentcreator.telemetry.dspy_spans import LeanDSPyInstrumentor

    instrumentor = LeanDSPyInstrumentor()
    instrumentor.instrument(tracer_provider=provider, config=config)
    return instrumentor


def content_attributes(direction: str, value: str) -> dict[str, AttributeValue]:
    """``input.value``/``output.value`` (``direction``) for one of our spans, as plain text, under
    the switches openinference's spans obey: content capture off (or an OPENINFERENCE_HIDE_*
    variable) redacts the value. Empty before ``configure_tracing``: spans record nothing then."""
    if _State.provider is None:
        return {}
    from agentcreator.telemetry.dspy_spans import mask_of, masked

    return masked(mask_of(_trace_config()), ((f"{direction}.value", value), (f"{direction}.mime_type", "text/plain")))


def configure_tracing(
    settings: Settings,
    *,
    extra_exporters: Sequence[SpanExporter] = (),
    extra_processors: Sequence[SpanProcessor] = (),
    instrument_dspy: bool = True,
    extra_metric_readers: Sequence[MetricReader] = (),
) -> TracerProvider | None:
    """Build the provider once; later calls return it unchanged until ``shutdown()``.
    With ``OTEL_SDK_DISABLED=true`` nothing is built or installed, and None is returned.
    The meter provider is built beside it, on the same resource (``telemetry.metrics``);
    ``extra_metric_readers`` (tests, benchmarks) read the metrics too.

    DSPy is instrumented lazily by ``ensure_dspy_instrumented`` (the pipeline calls it).
    ``extra_exporters`` (tests, ``--trace-file``, the CLI's tree) are attached synchronously:
    they are local and must hold every span the moment an invocation ends.
    """
    with _State.lock:
        if _State.provider is not None or _State.disabled:
            return _State.provider
        if settings.sdk_disabled:  # the SDK's own switch: no provider, exporter, encoder or instrumentation
            _State.disabled = True
            return None
        if settings.langfuse_problem:
            _log.warning("%s", settings.langfuse_problem)
        resource = build_resource(settings)
        provider = TracerProvider(resource=resource, id_generator=ProcessRandomIdGenerator())
        provider.add_span_processor(session_baggage_processor())

        def wrap(exporter: SpanExporter, *, encoded_strings: bool = False) -> SpanExporter:
            return GenAiSpanExporter(exporter, max_content_bytes=settings.max_content_bytes,
                                     max_span_bytes=settings.max_span_content_bytes, encoded_strings=encoded_strings)

        if settings.exports_otlp:
            exporter, encoded = build_otlp_exporter(settings)
            provider.add_span_processor(
                DropCountingBatchSpanProcessor(wrap(exporter, encoded_strings=encoded), _State.drops,
                                               max_queue_bytes=settings.span_queue_bytes,
                                               **settings.span_batch_limits)
            )
        if settings.console:  # OTEL_TRACES_EXPORTER=console or OTEL_DEBUG: stderr, as stdout carries results
            provider.add_span_processor(SimpleSpanProcessor(wrap(ConsoleSpanExporter(out=sys.stderr))))
        for exporter in extra_exporters:
            provider.add_span_processor(SimpleSpanProcessor(wrap(exporter)))
        for processor in extra_processors:
            provider.add_span_processor(processor)
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(provider)  # the API allows one global; later ones stay local
        # Spans can be dropped only on their way to the OTLP endpoint, through the batch processor.
        configure_metrics(settings, resource, extra_readers=extra_metric_readers,
                          span_drops=dropped_spans_by_reason if settings.exports_otlp else None)
        _State.provider = provider
        _State.capture_content = settings.capture_content
        _State.instrument = instrument_dspy
        return provider


def ensure_dspy_instrumented() -> None:
    """Instrument DSPy on first use, not at configuration: importing DSPy costs about a second,
    which must stay off the server's start-up path."""
    if _State.instrumentor is not None or not _State.instrument:
        return
    with _State.lock:
        if _State.instrumentor is None and _State.provider is not None:
            _State.instrumentor = _instrument_dspy(_State.provider, _trace_config())


def dspy_instrumented() -> bool:
    return _State.instrumentor is not None


def get_tracer() -> trace.Tracer:
    """Our tracer: from the configured provider, or a no-op one before configuration."""
    provider = _State.provider
    if provider is None:
        return trace.NoOpTracer()
    tracer = _State.tracer
    if tracer is None or _State.tracer_provider is not provider:  # one per provider: every stage asks
        tracer = _State.tracer = provider.get_tracer(_TRACER_NAME, __version__)
        _State.tracer_provider = provider
    return tracer


def dropped_span_count() -> int:
    """Spans lost since start: batch queue overflow plus failed OTLP exports."""
    return _State.drops.value


def dropped_spans_by_reason() -> dict[str, int]:
    """The same, by reason: ``queue_full`` and ``export_failed`` (``telemetry.export.DROP_REASONS``)."""
    return _State.drops.by_reason()


def shutdown(timeout_s: float = 10.0) -> bool:
    """Flush and shut down within ``timeout_s``, even when the endpoint never answers.

    The SDK's own shutdown waits out the exporter's timeout and retries (30 s measured with
    a dead endpoint), longer than ECS gives a stopping task; so it runs in a daemon thread
    that we wait on for at most ``timeout_s``, the metrics' final export beside it. Returns
    False if that bound was hit; our OTLP encoder then stays installed, for the export still
    running.
    """
    started = time.monotonic()
    metrics_done: list[bool] = []
    metrics = threading.Thread(target=lambda: metrics_done.append(shutdown_metrics(timeout_s)),
                               name="otel-metrics-shutdown-wait", daemon=True)
    metrics.start()
    traces_done = _shutdown_traces(timeout_s)
    metrics.join(max(0.0, timeout_s - (time.monotonic() - started)))
    return traces_done and metrics_done == [True]


def _shutdown_traces(timeout_s: float) -> bool:
    with _State.lock:
        provider, instrumentor, undo = _State.provider, _State.instrumentor, _State.undo
        _State.provider = _State.instrumentor = _State.trace_config = None
        _State.undo = []
        _State.disabled = False
    if instrumentor is not None:
        instrumentor.uninstrument()  # type: ignore[attr-defined]
    if provider is None:
        return True
    worker = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():  # an export may still run: it needs our encoder (its strings may be Utf8Text)
        _log.warning("telemetry shutdown did not finish within %.1f s; unsent spans were dropped", timeout_s)
        return False
    while undo:
        undo.pop()()
    return True
