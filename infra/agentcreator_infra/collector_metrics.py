"""Names of the collector's own metrics that the dashboard and alarms read.

collector/otel-config.yaml scrapes the collector's telemetry and ships it with awsemf, each
metric under the dimension set [environment, service] (plus exporter/receiver); a test keeps
these names in step with its metric_name_selectors.
"""

from __future__ import annotations

ACCEPTED_SPANS = "otelcol_receiver_accepted_spans"
RECEIVER_REFUSED_SPANS = "otelcol_receiver_refused_spans"
PROCESSOR_REFUSED_SPANS = "otelcol_processor_refused_spans"
MEMORY_LIMITER_REFUSED_SPANS = "otelcol_processor_memory_limiter_refused_spans"
SENT_SPANS = "otelcol_exporter_sent_spans"
SEND_FAILED_SPANS = "otelcol_exporter_send_failed_spans"
QUEUE_SIZE = "otelcol_exporter_queue_size"
QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
MEMORY_RSS = "otelcol_process_memory_rss"
ALL = (
    ACCEPTED_SPANS, RECEIVER_REFUSED_SPANS, PROCESSOR_REFUSED_SPANS, MEMORY_LIMITER_REFUSED_SPANS,
    SENT_SPANS, SEND_FAILED_SPANS, QUEUE_SIZE, QUEUE_CAPACITY, MEMORY_RSS,
)
DIMENSIONS = ("environment", "service")  # the set that totals across exporters and receivers


def dimensions(environment: str, service: str) -> dict[str, str]:
    return dict(zip(DIMENSIONS, (environment, service), strict=True))
