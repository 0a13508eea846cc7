"""The meter provider: the app's metrics, exported beside its spans under the same rules.

``configure_metrics`` is idempotent and ``shutdown_metrics`` undoes it, flushing once more within
a bound. The exporter is the SDK's OTLP one, for the endpoint, protocol and compression ``config``
resolved and validated; the SDK reads headers, timeout, certificates and
``OTEL_METRIC_EXPORT_INTERVAL`` itself. Where the standard variables leave them unset we choose
delta temporality and base-2 exponential histograms: CloudWatch's EMF (the collector's
``awsemf``) takes histograms as they come, so cumulative ones would be summed again every minute,
and only exponential ones carry the values CloudWatch computes percentiles from.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)

from agentcreator.config import grpc_compression
from agentcreator.telemetry.instruments import REVIEW_ITERATIONS, TOKEN_USAGE, Instruments

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader

    from agentcreator.config import Settings

_log = logging.getLogger(__name__)
_METER_NAME = "agentcreator"
# Histograms read only as sums, counts and averages keep explicit buckets (the conventions'
# boundaries for tokens): a third cheaper to record than exponential ones, and no percentile
# of them is drawn. The durations stay exponential, for p50/p99.
_TOKEN_BOUNDARIES = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_VIEWS = (
    View(instrument_name=TOKEN_USAGE, aggregation=ExplicitBucketHistogramAggregation(_TOKEN_BOUNDARIES)),
    View(instrument_name=REVIEW_ITERATIONS, aggregation=ExplicitBucketHistogramAggregation((1, 2, 3, 4, 5))),
)


class _State:
    lock = threading.Lock()
    provider: MeterProvider | None = None
    instruments: Instruments | None = None
    disabled = False


def _preferences() -> dict[str, dict]:
    """Our temporality and histogram aggregation, for what the standard variables leave unset."""
    preferences: dict[str, dict] = {}
    if not os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip():
        preferences["preferred_temporality"] = {Counter: AggregationTemporality.DELTA,
                                                ObservableCounter: AggregationTemporality.DELTA,
                                                Histogram: AggregationTemporality.DELTA}
    if not os.environ.get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "").strip():
        preferences["preferred_aggregation"] = {Histogram: ExponentialBucketHistogramAggregation()}
    return preferences


def build_otlp_metric_exporter(settings: Settings, **overrides: object) -> MetricExporter:
    """The SDK's OTLP metric exporter for the settings' metrics endpoint and protocol; ``doctor``
    builds the same one (``overrides``: its own timeout) to probe the endpoint."""
    if settings.otlp_metrics_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=settings.otlp_metrics_endpoint,
                            compression=grpc_compression(settings.otlp_metrics_compression),
                            **_preferences(), **overrides)
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter(endpoint=settings.otlp_metrics_endpoint,
                        compression=HttpCompression(settings.otlp_metrics_compression), **_preferences(), **overrides)


def configure_metrics(settings: Settings, resource: object, *, extra_readers: Sequence[MetricReader] = (),
                      span_drops: Callable[[], Mapping[str, int]] | None = None) -> MeterProvider | None:
    """Build the provider once (None, and nothing installed, with ``OTEL_SDK_DISABLED``, or when
    no exporter or reader is asked for: the instruments then record nothing). ``span_drops``
    reads the spans the app dropped, by reason, for ``agentcreator.spans.dropped``."""
    with _State.lock:
        if _State.provider is not None or _State.disabled:
            return _State.provider
        if settings.sdk_disabled:
            _State.disabled = True
            return None
        readers: list[MetricReader] = list(extra_readers)
        if settings.exports_otlp_metrics:
            readers.append(PeriodicExportingMetricReader(build_otlp_metric_exporter(settings)))
        if "console" in settings.metrics_exporters:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr, **_preferences())))
        if settings.metrics_problem and "otlp" in settings.metrics_exporters:
            _log.warning("%s", settings.metrics_problem)
        if not readers:
            return None
        # No exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks: CloudWatch's EMF drops them, and
        # sampling each one from the current span cost a fifth of the instruments' time. Asked
        # for, records are made at once: an exemplar comes from the span current at the record.
        exemplars_asked = bool(os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER"))
        exemplars = {} if exemplars_asked else {"exemplar_filter": AlwaysOffExemplarFilter()}
        provider = MeterProvider(resource=resource, metric_readers=readers, views=_VIEWS,  # type: ignore[arg-type]
                                 **exemplars)
        _State.provider = provider
        _State.instruments = Instruments(provider.get_meter(_METER_NAME), defer=not exemplars_asked,
                                         span_drops=span_drops)
        return provider


def app_metrics() -> Instruments:
    """The app's instruments: from the configured provider, or no-op ones that record nothing."""
    current = _State.instruments
    return current if current is not None else Instruments.noop()


def meter_provider() -> MeterProvider | None:
    return _State.provider


def shutdown_metrics(timeout_s: float = 10.0) -> bool:
    """Export what is left and stop, within ``timeout_s`` even when the endpoint never answers."""
    with _State.lock:
        provider = _State.provider
        _State.provider = _State.instruments = None
        _State.disabled = False
    if provider is None:
        return True
    worker = threading.Thread(target=provider.shutdown, kwargs={"timeout_millis": timeout_s * 1000},
                              name="otel-metrics-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        _log.warning("metrics shutdown did not finish within %.1f s; the last metrics were dropped", timeout_s)
        return False
    return True
