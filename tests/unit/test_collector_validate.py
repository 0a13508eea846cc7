"""validate_config rejects each way a collector config can break, with a message naming the fault."""

from __future__ import annotations

import copy

import pytest
import yaml

from agentcreator.collector import ADOT_VERSION, CONFIG_PATH, validate_config
from agentcreator.collector._components import load_components

SHIPPED = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))


def _problems_after(change) -> list[str]:
    doc = copy.deepcopy(SHIPPED)
    change(doc)
    return validate_config(yaml.safe_dump(doc, sort_keys=False))


def _traces(doc):
    return doc["service"]["pipelines"]["traces"]


def test_unknown_component_is_rejected():
    def add_transform(doc):
        doc["processors"]["transform"] = {"trace_statements": []}
        _traces(doc)["processors"].insert(1, "transform")

    assert _problems_after(add_transform) == [
        f"processors.transform: 'transform' is not a processor in ADOT {ADOT_VERSION} "
        "(see collector/adot-components.txt)"
    ]


def test_unknown_extension_is_rejected():
    def add_headers_setter(doc):
        doc["extensions"]["headers_setter"] = {}
        doc["service"]["extensions"].append("headers_setter")

    problems = _problems_after(add_headers_setter)
    assert problems == [
        f"extensions.headers_setter: 'headers_setter' is not a extension in ADOT {ADOT_VERSION} "
        "(see collector/adot-components.txt)"
    ]


def test_connectors_are_rejected():
    problems = _problems_after(lambda doc: doc.update(connectors={"spanmetrics": {}}))
    assert f"connectors.spanmetrics: ADOT {ADOT_VERSION} ships no connectors" in problems


def test_component_defined_but_unused_is_rejected():
    problems = _problems_after(lambda doc: doc["exporters"].update(debug={"verbosity": "basic"}))
    assert problems == ["exporters.debug: defined but not used in any pipeline"]


def test_component_used_but_undefined_is_rejected():
    problems = _problems_after(lambda doc: _traces(doc)["exporters"].append("otlp_http/tempo"))
    assert problems == ["service.pipelines.traces: exporter 'otlp_http/tempo' is not defined under exporters"]


def test_memory_limiter_not_first_is_rejected():
    def move_limiter(doc):
        _traces(doc)["processors"] = [
            "resource_detection", "memory_limiter/traces", "resource/genai", "tail_sampling", "batch/traces",
        ]

    assert _problems_after(move_limiter) == [
        "service.pipelines.traces: memory_limiter must be the first processor (found 'resource_detection')"
    ]


def test_memory_limiter_missing_from_the_traces_pipeline_is_rejected():
    def drop_limiter(doc):
        _traces(doc)["processors"].remove("memory_limiter/traces")
        del doc["processors"]["memory_limiter/traces"]

    assert _problems_after(drop_limiter) == [
        "service.pipelines.traces: memory_limiter must be the first processor (found 'resource_detection')"
    ]


def test_self_metrics_sharing_the_traces_memory_limiter_is_rejected():
    def share(doc):
        doc["service"]["pipelines"]["metrics/collector"]["processors"].insert(0, "memory_limiter/traces")

    assert _problems_after(share) == [
        "service.pipelines.metrics/collector: shares memory_limiter/traces with the app's data; "
        "the collector's own metrics would stop when it refuses"
    ]


def test_trace_complete_sampling_is_rejected():
    problems = _problems_after(lambda doc: doc["processors"]["tail_sampling"].pop("sampling_strategy"))
    assert problems == [
        "processors.tail_sampling: use sampling_strategy: span-ingest; otherwise a trace whose root has a "
        "caller's parent is held for the whole decision_wait"
    ]


def test_evicting_undecided_traces_is_rejected():
    problems = _problems_after(lambda doc: doc["processors"]["tail_sampling"].pop("block_on_overflow"))
    assert problems == [
        "processors.tail_sampling: set block_on_overflow: true; otherwise a full num_traces evicts an "
        "undecided trace, counted by no metric that an alarm can read"
    ]


def test_a_latency_threshold_of_zero_is_rejected():
    def zero(doc):
        policy = next(p for p in doc["processors"]["tail_sampling"]["policies"] if p["type"] == "latency")
        policy["latency"]["threshold_ms"] = 0

    assert _problems_after(zero) == ["processors.tail_sampling: latency threshold_ms 0 would keep every trace"]


def test_emf_dropping_each_counters_first_value_is_rejected():
    emf = "awsemf/collector"
    problems = _problems_after(lambda doc: doc["exporters"][emf].pop("retain_initial_value_of_delta_metric"))
    assert problems == [
        "exporters.awsemf/collector: set retain_initial_value_of_delta_metric: true, or each counter's first "
        "value (the first burst of refusals or failures) never reaches CloudWatch"
    ]


def test_batch_not_last_is_rejected():
    def batch_early(doc):
        _traces(doc)["processors"] = [
            "memory_limiter/traces", "resource_detection", "resource/genai", "batch/traces", "tail_sampling",
        ]

    assert _problems_after(batch_early) == [
        "service.pipelines.traces: batch must be the last processor (found 'tail_sampling')"
    ]


def test_missing_health_check_is_rejected():
    def remove_health_check(doc):
        del doc["extensions"]["health_check"]
        doc["service"]["extensions"].remove("health_check")

    assert _problems_after(remove_health_check) == [
        "service.extensions: health_check is not enabled; the ECS health check /healthcheck calls 127.0.0.1:13133"
    ]


def test_health_check_defined_but_not_enabled_is_rejected():
    problems = _problems_after(lambda doc: doc["service"]["extensions"].remove("health_check"))
    assert "extensions.health_check: defined but not used (not listed in service.extensions)" in problems
    assert any(p.startswith("service.extensions: health_check is not enabled") for p in problems)


def test_health_check_on_another_port_is_rejected():
    problems = _problems_after(lambda doc: doc["extensions"]["health_check"].update(endpoint="127.0.0.1:8080"))
    assert problems == [
        "extensions.health_check: endpoint '127.0.0.1:8080' must be 127.0.0.1:13133, "
        "where the ECS health check /healthcheck calls"
    ]


def test_receiver_bound_to_all_interfaces_is_rejected():
    def open_grpc(doc):
        doc["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:4317"

    assert _problems_after(open_grpc) == [
        "receivers.otlp: protocols.grpc.endpoint '0.0.0.0:4317' is not a loopback address; "
        "bind to 127.0.0.1 so only containers in the task can reach it"
    ]


def test_http_receiver_bound_to_all_interfaces_also_misses_the_app_endpoint():
    def open_http(doc):
        doc["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = "0.0.0.0:4318"

    problems = _problems_after(open_http)
    assert problems[0].startswith("receivers.otlp: protocols.http.endpoint '0.0.0.0:4318' is not a loopback")
    assert problems[1] == (
        "receivers: no otlp receiver in a traces pipeline has protocols.http.endpoint 127.0.0.1:4318, "
        "where the app sends (http://127.0.0.1:4318); found '0.0.0.0:4318'"
    )


def test_receiver_on_another_port_than_the_app_uses_is_rejected():
    def move_http(doc):
        doc["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = "127.0.0.1:4319"

    assert _problems_after(move_http) == [
        "receivers: no otlp receiver in a traces pipeline has protocols.http.endpoint 127.0.0.1:4318, "
        "where the app sends (http://127.0.0.1:4318); found '127.0.0.1:4319'"
    ]


def test_bad_env_name_is_rejected():
    def dash_in_name(doc):
        doc["exporters"]["otlp_http/langfuse"]["endpoint"] = "${env:LANGFUSE-ENDPOINT}"

    assert _problems_after(dash_in_name) == [
        "${env:LANGFUSE-ENDPOINT}: invalid env var name 'LANGFUSE-ENDPOINT' (letters, digits and underscore only)"
    ]


def test_env_name_the_infra_does_not_set_is_rejected():
    def unknown_name(doc):
        doc["processors"]["memory_limiter/traces"]["limit_mib"] = "${env:MEMORY_LIMIT}"

    assert _problems_after(unknown_name) == [
        "${env:MEMORY_LIMIT}: MEMORY_LIMIT is not set on the collector by the infra (INFRA_PROVIDED_ENV)"
    ]


def test_reference_without_env_scheme_is_rejected():
    def bare(doc):
        doc["extensions"]["sigv4auth/xray"]["region"] = "${AWS_REGION}"

    assert _problems_after(bare) == ["${AWS_REGION}: not an environment reference; write ${env:NAME}"]


def test_provided_env_can_be_narrowed():
    problems = validate_config(CONFIG_PATH.read_text(encoding="utf-8"), provided_env={"AWS_REGION"})
    assert (
        "${env:LANGFUSE_AUTHORIZATION}: LANGFUSE_AUTHORIZATION is not set on the collector by the infra "
        "(INFRA_PROVIDED_ENV)" in problems
    )
    assert not any("AWS_REGION" in problem for problem in problems)


def test_literal_authorization_header_is_rejected():
    def literal(doc):
        doc["exporters"]["otlp_http/langfuse"]["headers"]["Authorization"] = "Basic cGs6c2s="

    assert _problems_after(literal) == [
        "exporters.otlp_http/langfuse: headers.Authorization must be exactly one ${env:NAME} reference "
        "(a Secrets Manager value), never a literal credential"
    ]


def test_sampling_without_error_or_latency_policy_is_rejected():
    def only_probabilistic(doc):
        policies = doc["processors"]["tail_sampling"]["policies"]
        doc["processors"]["tail_sampling"]["policies"] = [p for p in policies if p["type"] == "probabilistic"]

    assert _problems_after(only_probabilistic) == [
        "processors.tail_sampling: needs a status_code policy with ERROR so failed traces are kept",
        "processors.tail_sampling: needs a latency policy so slow traces are kept",
    ]


def test_traces_pipeline_without_tail_sampling_is_rejected():
    def no_sampling(doc):
        del doc["processors"]["tail_sampling"]
        _traces(doc)["processors"].remove("tail_sampling")

    assert _problems_after(no_sampling) == [
        "service.pipelines: no traces pipeline uses tail_sampling; errors and slow traces must be kept"
    ]


def test_exporter_without_retry_is_rejected():
    problems = _problems_after(lambda doc: doc["exporters"]["otlp_http/langfuse"].pop("retry_on_failure"))
    assert problems == [
        "exporters.otlp_http/langfuse: set retry_on_failure (enabled, sized for a sidecar) to ride out outages"
    ]


def test_queue_keys_on_an_exporter_that_has_none_are_rejected():
    problems = _problems_after(lambda doc: doc["exporters"]["awsemf/collector"].update(sending_queue={"enabled": True}))
    assert problems == [
        f"exporters.awsemf/collector: awsemf in ADOT {ADOT_VERSION} does not accept sending_queue; "
        "use max_retries/request_timeout_seconds"
    ]


def test_too_coarse_telemetry_level_is_rejected():
    problems = _problems_after(lambda doc: doc["service"]["telemetry"]["metrics"].update(level="basic"))
    assert problems == [
        "service.telemetry.metrics.level 'basic' hides otelcol_exporter_*/otelcol_receiver_* span metrics; use detailed"
    ]


def test_own_metrics_not_scraped_is_rejected():
    def scrape_elsewhere(doc):
        scrape = doc["receivers"]["prometheus/collector"]["config"]["scrape_configs"][0]
        scrape["static_configs"][0]["targets"] = ["127.0.0.1:9999"]

    assert _problems_after(scrape_elsewhere) == [
        "receivers: no prometheus receiver in a metrics pipeline scrapes the collector's own telemetry "
        "(127.0.0.1:8888), so its metrics never reach CloudWatch"
    ]


def test_authenticator_not_enabled_is_rejected():
    def unsigned(doc):
        doc["extensions"]["sigv4auth/other"] = {"service": "xray"}
        doc["exporters"]["otlp_http/langfuse"]["auth"] = {"authenticator": "sigv4auth/other"}

    problems = _problems_after(unsigned)
    assert "exporters.otlp_http/langfuse: authenticator 'sigv4auth/other' is not in service.extensions" in problems
    assert "extensions.sigv4auth/other: defined but not used (not listed in service.extensions)" in problems


def test_deprecated_alias_of_a_shipped_component_is_accepted():
    """`otlphttp` still works in this ADOT (it logs a deprecation warning), so it is not a problem."""

    def old_name(doc):
        doc["exporters"]["otlphttp/langfuse"] = doc["exporters"].pop("otlp_http/langfuse")
        _traces(doc)["exporters"] = ["otlp_http/xray", "otlphttp/langfuse"]

    assert _problems_after(old_name) == []


def test_unparsable_yaml_is_one_problem():
    problems = validate_config("receivers: [otlp\n")
    assert len(problems) == 1 and problems[0].startswith("yaml: ")


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_non_mapping_is_one_problem(text):
    assert validate_config(text) == [
        "yaml: the config must be a mapping with receivers, processors, exporters and service"
    ]


def test_unknown_top_level_section_is_rejected():
    problems = _problems_after(lambda doc: doc.update(pipelines={}))
    assert problems == ["pipelines: not a collector config section"]


def test_every_problem_is_one_line():
    def break_many(doc):
        doc["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:4317"
        doc["exporters"]["debug"] = {}
        _traces(doc)["processors"].reverse()
        del doc["extensions"]["health_check"]
        doc["service"]["extensions"] = []

    problems = _problems_after(break_many)
    assert len(problems) >= 5
    assert all("\n" not in problem for problem in problems)


def test_component_list_rejects_a_malformed_line(tmp_path):
    path = tmp_path / "adot-components.txt"
    path.write_text("version v0.49.0\nreceiver\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"adot-components.txt:2: expected"):
        load_components(path)


def test_the_apps_metrics_may_share_a_limiter_with_its_spans():
    def share(doc):
        doc["service"]["pipelines"]["metrics/app"]["processors"][0] = "memory_limiter/traces"
        del doc["processors"]["memory_limiter/app-metrics"]

    assert _problems_after(share) == []


def test_emf_without_declarations_or_with_a_wide_dimension_set_is_rejected():
    def undeclared(doc):
        doc["exporters"]["awsemf/app"].pop("metric_declarations")

    def wide(doc):
        doc["exporters"]["awsemf/app"]["metric_declarations"][0]["dimensions"] = [["a", "b", "c", "d", "e"]]

    assert _problems_after(undeclared) == [
        "exporters.awsemf/app: no metric_declarations, so every label of every metric becomes a CloudWatch "
        "dimension (one billed metric per value)"
    ]
    assert _problems_after(wide) == [
        "exporters.awsemf/app: dimension set ['a', 'b', 'c', 'd', 'e'] has more than 4 dimensions; keep "
        "CloudWatch's metrics few"
    ]
