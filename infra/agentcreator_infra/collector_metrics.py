"""Names of the collector's own metrics that the dashboard and alarms read.

collector/otel-config.yaml scrapes the collector's telemetry and ships it with awsemf, each
metric under the dimension set [environment, service] (plus exporter/receiver). The tests hold
every name an alarm reads against that config's metric_name_selectors and against
collector/adot-metrics.txt, the names a real ADOT v0.49.0 was seen to emit.
"""

from __future__ import annotations

ACCEPTED_SPANS = "otelcol_receiver_accepted_spans"
RECEIVER_REFUSED_SPANS = "otelcol_receiver_refused_spans"
RECEIVER_FAILED_SPANS = "otelcol_receiver_failed_spans"
MEMORY_LIMITER_REFUSED_SPANS = "otelcol_processor_memory_limiter_refused_spans"
SENT_SPANS = "otelcol_exporter_sent_spans"
SEND_FAILED_SPANS = "otelcol_exporter_send_failed_spans"
ENQUEUE_FAILED_SPANS = "otelcol_exporter_enqueue_failed_spans"
QUEUE_SIZE = "otelcol_exporter_queue_size"
QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
MEMORY_RSS = "otelcol_process_memory_rss"
HEAP_ALLOC = "otelcol_process_runtime_heap_alloc_bytes"
HEARTBEAT = MEMORY_RSS  # a gauge every scrape reports, from the collector's first scrape on
DIMENSIONS = ("environment", "service")  # the set that totals across exporters and receivers


def dimensions(environment: str, service: str) -> dict[str, str]:
    return dict(zip(DIMENSIONS, (environment, service), strict=True))
