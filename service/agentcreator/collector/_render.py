"""Turn collector/otel-config.yaml into one environment's AOT_CONFIG_CONTENT."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agentcreator.collector._settings import (
    ADOT_VERSION,
    CONFIG_PATH,
    DEFAULT_XRAY_MODE,
    XRAY_AWSXRAY_FRAGMENT,
    XRAY_MODES,
)
from agentcreator.collector._values import check_values

if TYPE_CHECKING:
    from collections.abc import Mapping

_LANGFUSE_EXPORTER = "otlp_http/langfuse"
_XRAY_OTLP_EXPORTER = "otlp_http/xray"
_XRAY_OTLP_AUTH = "sigv4auth/xray"
# `$${...}` is the collector's escape for a literal; an odd run of `$` starts a reference.
_REFERENCE = re.compile(r"(\$+)\{([^}]*)\}")


def env_references(value: str) -> list[str]:
    """The inside of every `${...}` the collector would expand in one string, e.g. 'env:AWS_REGION'."""
    return [inner for dollars, inner in _REFERENCE.findall(value) if len(dollars) % 2 == 1]


def env_name(reference: str) -> str | None:
    """'env:NAME' or 'env:NAME:-default' -> 'NAME'; None for any other scheme."""
    if not reference.startswith("env:"):
        return None
    return reference[len("env:") :].split(":-", 1)[0]


def strings_in(node: Any) -> list[str]:
    """Every string key and value in a parsed YAML tree, where the collector expands references."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*strings_in(key), *strings_in(value))]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return []


def required_env(text: str) -> set[str]:
    """The `${env:NAME}` names a config text references (comments do not count)."""
    try:
        strings = strings_in(yaml.safe_load(text))
    except yaml.YAMLError:
        strings = [text]
    names = (env_name(ref) for s in strings for ref in env_references(s))
    return {name for name in names if name}


def render_config(
    *,
    langfuse_enabled: bool,
    xray_mode: str = DEFAULT_XRAY_MODE,
    path: Path | None = None,
    values: Mapping[str, str] | None = None,
    secret_names: frozenset[str] = frozenset(),
) -> str:
    """YAML for one environment: Langfuse export on or off, X-Ray by OTLP endpoint or by exporter.

    `${env:...}` references are kept; the collector resolves them from the container's environment.
    With ``values`` (what the container will get, besides ``secret_names``), every reference must
    have one and each must be usable, or ValueError names every problem.
    """
    if xray_mode not in XRAY_MODES:
        raise ValueError(f"xray_mode must be one of {', '.join(XRAY_MODES)}, not {xray_mode!r}")
    source = Path(path) if path is not None else CONFIG_PATH
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not langfuse_enabled:
        _drop_exporter(doc, _LANGFUSE_EXPORTER)
    if xray_mode == "awsxray":
        fragment = yaml.safe_load((source.parent / XRAY_AWSXRAY_FRAGMENT).read_text(encoding="utf-8"))
        _use_awsxray(doc, fragment)
    header = (
        f"# Rendered from {source.name} for ADOT {ADOT_VERSION}: "
        f"langfuse={'on' if langfuse_enabled else 'off'}, xray_mode={xray_mode}. Do not edit; "
        "change the source and render again.\n"
    )
    text = header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    if values is not None:
        problems = check_values(values, required=required_env(text) - secret_names)
        if problems:
            raise ValueError("; ".join(problems))
    return text


def _pipelines(doc: dict[str, Any]) -> dict[str, Any]:
    return (doc.get("service") or {}).get("pipelines") or {}


def _drop_exporter(doc: dict[str, Any], exporter_id: str) -> None:
    exporters = doc.get("exporters") or {}
    if exporter_id not in exporters:
        raise ValueError(f"exporter {exporter_id} is not defined in the source config")
    del exporters[exporter_id]
    for pipeline in _pipelines(doc).values():
        pipeline["exporters"] = [e for e in pipeline.get("exporters") or [] if e != exporter_id]


def _use_awsxray(doc: dict[str, Any], fragment: dict[str, Any]) -> None:
    """Swap otlp_http/xray for the fragment's exporter(s) in place, and drop the SigV4 extension."""
    exporters = doc.get("exporters") or {}
    if _XRAY_OTLP_EXPORTER not in exporters:
        raise ValueError(f"exporter {_XRAY_OTLP_EXPORTER} is not defined in the source config")
    new_exporters = copy.deepcopy(fragment.get("exporters") or {})
    del exporters[_XRAY_OTLP_EXPORTER]
    exporters.update(new_exporters)
    for pipeline in _pipelines(doc).values():
        swapped: list[str] = []
        for exporter in pipeline.get("exporters") or []:
            swapped.extend(new_exporters if exporter == _XRAY_OTLP_EXPORTER else [exporter])
        pipeline["exporters"] = swapped
    (doc.get("extensions") or {}).pop(_XRAY_OTLP_AUTH, None)
    service = doc.setdefault("service", {})
    service["extensions"] = [e for e in service.get("extensions") or [] if e != _XRAY_OTLP_AUTH]
