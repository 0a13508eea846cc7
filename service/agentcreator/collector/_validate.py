"""Checks a collector config against what ADOT ships, what the infra sets, and how the task is wired.

Each check returns human-readable problems, one line each; an empty list means the config is fine.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from agentcreator.collector._components import AdotComponents, load_components
from agentcreator.collector._render import env_name, env_references, strings_in
from agentcreator.collector._settings import (
    APP_OTLP_ENDPOINT,
    COMPONENTS_FILE,
    CONFIG_PATH,
    INFRA_PROVIDED_ENV,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

_SECTIONS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "extensions": "extension"}
_TOP_LEVEL = {*_SECTIONS, "connectors", "service"}
_SIGNALS = ("traces", "metrics", "logs")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # the collector's own envvar.ValidationPattern
_HEALTH_CHECK_PORT = 13133  # ADOT's /healthcheck binary calls 127.0.0.1:13133
# Exporters built on the queue/retry helpers vs. ones whose config has no such keys in this ADOT.
_QUEUED_EXPORTERS = {"otlp_http", "otlphttp", "otlp_grpc", "otlp"}
_UNQUEUED_EXPORTERS = {"awsxray", "awsemf"}
_SECRET_HEADER = re.compile(r"auth|key|token|secret|team|password", re.IGNORECASE)
_MAX_EMF_DIMENSIONS = 4  # each value combination of a dimension set is one CloudWatch metric
_TELEMETRY_LEVELS = {"normal", "detailed"}  # both expose the otelcol_* span and queue metrics


def validate_config(text: str, *, provided_env: frozenset[str] | set[str] = INFRA_PROVIDED_ENV) -> list[str]:
    """Every problem with a collector config text, one line each; [] when it is valid."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return ["yaml: " + " ".join(str(error).split())]
    if not isinstance(doc, dict):
        return ["yaml: the config must be a mapping with receivers, processors, exporters and service"]
    components_path = CONFIG_PATH.parent / COMPONENTS_FILE
    try:
        components = load_components(components_path)
    except (OSError, ValueError) as error:
        return [f"cannot read the ADOT component list {components_path}: {error}"]
    problems = [f"{key}: not a collector config section" for key in doc if key not in _TOP_LEVEL]
    for section in (*_SECTIONS, "service"):
        if doc.get(section) is not None and not isinstance(doc[section], dict):
            problems.append(f"{section}: must be a mapping")
    if problems:
        return problems
    checks = (
        _check_env(doc, provided_env),
        _check_types(doc, components),
        _check_pipelines(doc),
        _check_extensions(doc),
        _check_processor_order(doc),
        _check_loopback(doc),
        _check_app_endpoint(doc),
        _check_credentials(doc),
        _check_exporter_buffers(doc, components),
        _check_sampling(doc),
        _check_own_telemetry(doc),
        _check_emf(doc),
    )
    return [problem for check in checks for problem in check]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc.get(name) or {}


def _pipelines(doc: dict[str, Any]) -> dict[str, Any]:
    pipelines = _section(doc, "service").get("pipelines") or {}
    return pipelines if isinstance(pipelines, dict) else {}


def _component_type(component_id: str) -> str:
    return str(component_id).split("/", 1)[0]


def _ids_of_type(doc: dict[str, Any], section: str, *types: str) -> list[str]:
    return [cid for cid in _section(doc, section) if _component_type(cid) in types]


def _check_env(doc: dict[str, Any], provided_env: frozenset[str] | set[str]) -> Iterator[str]:
    seen: set[str] = set()
    for reference in (ref for s in strings_in(doc) for ref in env_references(s)):
        if reference in seen:
            continue
        seen.add(reference)
        name = env_name(reference)
        if name is None:
            yield f"${{{reference}}}: not an environment reference; write ${{env:NAME}}"
        elif not _ENV_NAME.match(name):
            yield f"${{{reference}}}: invalid env var name {name!r} (letters, digits and underscore only)"
        elif name not in provided_env:
            yield f"${{{reference}}}: {name} is not set on the collector by the infra (INFRA_PROVIDED_ENV)"


def _check_types(doc: dict[str, Any], components: AdotComponents) -> Iterator[str]:
    for section, kind in _SECTIONS.items():
        for component_id in _section(doc, section):
            type_name = _component_type(component_id)
            if not components.ships(kind, type_name):
                yield (
                    f"{section}.{component_id}: {type_name!r} is not a {kind} in ADOT {components.version} "
                    f"(see collector/{COMPONENTS_FILE})"
                )
    for connector_id in _section(doc, "connectors"):
        yield f"connectors.{connector_id}: ADOT {components.version} ships no connectors"


def _check_pipelines(doc: dict[str, Any]) -> Iterator[str]:
    pipelines = _pipelines(doc)
    if not pipelines:
        yield "service.pipelines: no pipelines defined"
        return
    used: dict[str, set[str]] = {section: set() for section in ("receivers", "processors", "exporters")}
    for pipeline_id, pipeline in pipelines.items():
        where = f"service.pipelines.{pipeline_id}"
        if _component_type(pipeline_id) not in _SIGNALS:
            yield f"{where}: a pipeline id starts with traces, metrics or logs"
        pipeline = pipeline or {}
        for section in used:
            ids = pipeline.get(section) or []
            if not ids and section != "processors":
                yield f"{where}: needs at least one of {section}"
            for component_id in ids:
                used[section].add(component_id)
                if component_id not in _section(doc, section):
                    yield f"{where}: {section[:-1]} {component_id!r} is not defined under {section}"
    for section, ids in used.items():
        for component_id in _section(doc, section):
            if component_id not in ids:
                yield f"{section}.{component_id}: defined but not used in any pipeline"


def _check_extensions(doc: dict[str, Any]) -> Iterator[str]:
    enabled = _section(doc, "service").get("extensions") or []
    defined = _section(doc, "extensions")
    for extension_id in enabled:
        if extension_id not in defined:
            yield f"service.extensions: {extension_id!r} is not defined under extensions"
    for extension_id in defined:
        if extension_id not in enabled:
            yield f"extensions.{extension_id}: defined but not used (not listed in service.extensions)"
    for section in ("receivers", "exporters"):
        for component_id, config in _section(doc, section).items():
            authenticator = ((config or {}).get("auth") or {}).get("authenticator")
            if authenticator and authenticator not in enabled:
                yield f"{section}.{component_id}: authenticator {authenticator!r} is not in service.extensions"
    health_checks = [cid for cid in enabled if _component_type(cid) == "health_check" and cid in defined]
    if not health_checks:
        yield (
            "service.extensions: health_check is not enabled; the ECS health check /healthcheck "
            f"calls 127.0.0.1:{_HEALTH_CHECK_PORT}"
        )
    for extension_id in health_checks:
        endpoint = (defined[extension_id] or {}).get("endpoint", f"localhost:{_HEALTH_CHECK_PORT}")
        host, port = _split_host_port(str(endpoint))
        if port != _HEALTH_CHECK_PORT or not _is_loopback(host):
            yield (
                f"extensions.{extension_id}: endpoint {endpoint!r} must be 127.0.0.1:{_HEALTH_CHECK_PORT}, "
                "where the ECS health check /healthcheck calls"
            )


def _check_processor_order(doc: dict[str, Any]) -> Iterator[str]:
    """The app's data (spans and metrics) meets a memory_limiter first; the collector's own metrics
    never share one.

    A limiter shared with the self-metrics pipeline refuses those metrics exactly when memory
    is short, and the alarms then see missing data instead of the refusals.
    """
    limiters_of_app_data: set[str] = set()
    for pipeline_id, pipeline in _pipelines(doc).items():
        pipeline = pipeline or {}
        processors = [str(p) for p in pipeline.get("processors") or []]
        where = f"service.pipelines.{pipeline_id}"
        takes_app_data = any(_component_type(r) == "otlp" for r in pipeline.get("receivers") or [])
        if takes_app_data:
            if not processors or _component_type(processors[0]) != "memory_limiter":
                found = f"found {processors[0]!r}" if processors else "no processors"
                yield f"{where}: memory_limiter must be the first processor ({found})"
            else:
                limiters_of_app_data.add(processors[0])
        if not processors or _component_type(processors[-1]) != "batch":
            found = f"found {processors[-1]!r}" if processors else "no processors"
            yield f"{where}: batch must be the last processor ({found})"
    for pipeline_id, pipeline in _pipelines(doc).items():
        pipeline = pipeline or {}
        if _component_type(pipeline_id) != "metrics" or any(
            _component_type(r) == "otlp" for r in pipeline.get("receivers") or []
        ):  # the app's own metrics are app data: they may share a limiter with it
            continue
        for processor_id in pipeline.get("processors") or []:
            if processor_id in limiters_of_app_data:
                yield (
                    f"service.pipelines.{pipeline_id}: shares {processor_id} with the app's data; "
                    "the collector's own metrics would stop when it refuses"
                )


def _endpoints(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, value) of every `endpoint` key in a component's config."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "endpoint" and isinstance(value, str):
                yield here, value
            else:
                yield from _endpoints(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _endpoints(item, f"{path}[{index}]")


def _split_host_port(endpoint: str) -> tuple[str, int | None]:
    parsed = urlsplit(endpoint if "//" in endpoint else "//" + endpoint)
    try:
        return parsed.hostname or "", parsed.port
    except ValueError:
        return parsed.hostname or "", None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_loopback(doc: dict[str, Any]) -> Iterator[str]:
    for receiver_id, config in _section(doc, "receivers").items():
        for where, endpoint in _endpoints(config):
            if not _is_loopback(_split_host_port(endpoint)[0]):
                yield (
                    f"receivers.{receiver_id}: {where} {endpoint!r} is not a loopback address; "
                    "bind to 127.0.0.1 so only containers in the task can reach it"
                )


def _check_app_endpoint(doc: dict[str, Any]) -> Iterator[str]:
    want = urlsplit(APP_OTLP_ENDPOINT)
    trace_receivers = {
        receiver_id
        for pipeline_id, pipeline in _pipelines(doc).items()
        if _component_type(pipeline_id) == "traces"
        for receiver_id in (pipeline or {}).get("receivers") or []
    }
    listening = []
    for receiver_id in _ids_of_type(doc, "receivers", "otlp"):
        http = (((_section(doc, "receivers")[receiver_id] or {}).get("protocols") or {}).get("http")) or {}
        endpoint = http.get("endpoint")
        if receiver_id in trace_receivers and endpoint:
            listening.append(endpoint)
            if _split_host_port(str(endpoint)) == (want.hostname, want.port):
                return
    found = f"found {', '.join(map(repr, listening))}" if listening else "none set explicitly"
    yield (
        f"receivers: no otlp receiver in a traces pipeline has protocols.http.endpoint "
        f"{want.hostname}:{want.port}, where the app sends ({APP_OTLP_ENDPOINT}); {found}"
    )


def _check_credentials(doc: dict[str, Any]) -> Iterator[str]:
    for exporter_id, config in _section(doc, "exporters").items():
        for header, value in ((config or {}).get("headers") or {}).items():
            if not _SECRET_HEADER.search(str(header)):
                continue
            refs = env_references(str(value))
            if len(refs) != 1 or str(value) != "${" + refs[0] + "}" or env_name(refs[0]) is None:
                yield (
                    f"exporters.{exporter_id}: headers.{header} must be exactly one ${{env:NAME}} reference "
                    "(a Secrets Manager value), never a literal credential"
                )


def _check_exporter_buffers(doc: dict[str, Any], components: AdotComponents) -> Iterator[str]:
    for exporter_id, config in _section(doc, "exporters").items():
        config = config or {}
        type_name = _component_type(exporter_id)
        if type_name in _QUEUED_EXPORTERS:
            for key in ("sending_queue", "retry_on_failure"):
                block = config.get(key)
                if not isinstance(block, dict) or block.get("enabled") is False:
                    yield f"exporters.{exporter_id}: set {key} (enabled, sized for a sidecar) to ride out outages"
        elif type_name in _UNQUEUED_EXPORTERS:
            for key in ("sending_queue", "retry_on_failure"):
                if key in config:
                    yield (
                        f"exporters.{exporter_id}: {type_name} in ADOT {components.version} does not accept "
                        f"{key}; use max_retries/request_timeout_seconds"
                    )


def _check_sampling(doc: dict[str, Any]) -> Iterator[str]:
    traces = [p or {} for pid, p in _pipelines(doc).items() if _component_type(pid) == "traces"]
    sampled = {pid for p in traces for pid in p.get("processors") or [] if _component_type(pid) == "tail_sampling"}
    if traces and not sampled:
        yield "service.pipelines: no traces pipeline uses tail_sampling; errors and slow traces must be kept"
    for processor_id in sorted(sampled):
        policies = (_section(doc, "processors").get(processor_id) or {}).get("policies") or []
        kinds = {policy.get("type") for policy in policies if isinstance(policy, dict)}
        keeps_errors = any(
            isinstance(policy, dict)
            and policy.get("type") == "status_code"
            and "ERROR" in ((policy.get("status_code") or {}).get("status_codes") or [])
            for policy in policies
        )
        if not keeps_errors:
            yield f"processors.{processor_id}: needs a status_code policy with ERROR so failed traces are kept"
        if "latency" not in kinds:
            yield f"processors.{processor_id}: needs a latency policy so slow traces are kept"
        for policy in policies:
            threshold = ((policy or {}).get("latency") or {}).get("threshold_ms") if isinstance(policy, dict) else None
            if isinstance(threshold, (int, float)) and threshold <= 0:
                yield f"processors.{processor_id}: latency threshold_ms {threshold} would keep every trace"
        config = _section(doc, "processors").get(processor_id) or {}
        if config.get("sampling_strategy") != "span-ingest":
            yield (
                f"processors.{processor_id}: use sampling_strategy: span-ingest; otherwise a trace whose "
                "root has a caller's parent is held for the whole decision_wait"
            )
        if config.get("block_on_overflow") is not True:
            yield (
                f"processors.{processor_id}: set block_on_overflow: true; otherwise a full num_traces evicts "
                "an undecided trace, counted by no metric that an alarm can read"
            )


def _check_own_telemetry(doc: dict[str, Any]) -> Iterator[str]:
    metrics = (_section(doc, "service").get("telemetry") or {}).get("metrics") or {}
    level = metrics.get("level", "normal")
    if level not in _TELEMETRY_LEVELS:
        yield (
            f"service.telemetry.metrics.level {level!r} hides otelcol_exporter_*/otelcol_receiver_* "
            "span metrics; use detailed"
        )
    ports = set()
    for reader in metrics.get("readers") or []:
        prometheus = (((reader or {}).get("pull") or {}).get("exporter") or {}).get("prometheus")
        if prometheus is None:
            continue
        host, port = str(prometheus.get("host", "localhost")), prometheus.get("port", 8888)
        ports.add(port)
        if not _is_loopback(host):
            yield f"service.telemetry.metrics: prometheus reader host {host!r} is not a loopback address"
    if not metrics.get("readers"):
        ports.add(8888)  # the collector's default reader
    scraped = {
        _split_host_port(str(target))
        for receiver_id in _metrics_receivers(doc, "prometheus")
        for scrape in (
            ((_section(doc, "receivers")[receiver_id] or {}).get("config") or {}).get("scrape_configs") or []
        )
        for static in (scrape or {}).get("static_configs") or []
        for target in (static or {}).get("targets") or []
    }
    if not any(_is_loopback(host) and port in ports for host, port in scraped):
        yield (
            "receivers: no prometheus receiver in a metrics pipeline scrapes the collector's own "
            f"telemetry (127.0.0.1:{min(ports, default=8888)}), so its metrics never reach CloudWatch"
        )


def _metrics_receivers(doc: dict[str, Any], type_name: str) -> set[str]:
    return {
        receiver_id
        for pipeline_id, pipeline in _pipelines(doc).items()
        if _component_type(pipeline_id) == "metrics"
        for receiver_id in (pipeline or {}).get("receivers") or []
        if _component_type(receiver_id) == type_name and receiver_id in _section(doc, "receivers")
    }


def _check_emf(doc: dict[str, Any]) -> Iterator[str]:
    for exporter_id in _ids_of_type(doc, "exporters", "awsemf"):
        config = _section(doc, "exporters")[exporter_id] or {}
        declarations = config.get("metric_declarations") or []
        if not declarations:
            yield (f"exporters.{exporter_id}: no metric_declarations, so every label of every metric becomes a "
                   "CloudWatch dimension (one billed metric per value)")
        for declaration in declarations:
            for dimensions in (declaration or {}).get("dimensions") or []:
                if len(dimensions or []) > _MAX_EMF_DIMENSIONS:
                    yield (f"exporters.{exporter_id}: dimension set {dimensions} has more than "
                           f"{_MAX_EMF_DIMENSIONS} dimensions; keep CloudWatch's metrics few")
        if config.get("retain_initial_value_of_delta_metric") is not True:
            yield (
                f"exporters.{exporter_id}: set retain_initial_value_of_delta_metric: true, or each counter's "
                "first value (the first burst of refusals or failures) never reaches CloudWatch"
            )
