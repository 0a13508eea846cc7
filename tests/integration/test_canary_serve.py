"""`agentcreator serve` with a canary interval: one canary per task, exported and logged for the checker."""

from __future__ import annotations

import time

from agentcreator.canary import CANARY_ATTRIBUTE
from agentcreator.canary.emit import ROOT_NAME
from agentcreator.canary.readback import canaries_in
from tests.support.otlp_sink import OtlpSink
from tests.support.runtime_server import RuntimeServer


def test_a_server_with_two_workers_sends_one_canary_and_logs_it():
    with OtlpSink() as sink, RuntimeServer(
        {"AGENTCREATOR_LM": "offline", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "ENVIRONMENT": "dev",
         "AGENTCREATOR_CANARY_INTERVAL_S": "10", "OTEL_BSP_SCHEDULE_DELAY": "200"},
        args=["--workers", "2"],
    ) as server:
        sink.wait_for(lambda spans: any(s["name"] == ROOT_NAME for s in spans), timeout=30)
        time.sleep(2)  # a second worker sending too would have shown up by now
        roots = sink.spans(name=ROOT_NAME)
        log = server.log()
    assert len(roots) == 1, log
    assert roots[0]["attributes"][CANARY_ATTRIBUTE] is True
    assert roots[0]["attributes"]["session.id"] == "agentcreator-canary-dev"
    # the line the CloudWatch Logs subscription hands to the checker names the same trace
    assert [canary.trace_id for canary in canaries_in(log.splitlines())] == [roots[0]["trace_id"]]
