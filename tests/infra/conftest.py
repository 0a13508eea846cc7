"""Synthesize the CDK app once per session; tests read the templates and the cdk-nag report.

Synth needs neither AWS credentials nor a Docker engine: the image asset is only staged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "prod")
sys.path.insert(0, str(ROOT / "infra"))

from agentcreator_infra.node import NodeMissing, select_node  # noqa: E402

try:
    select_node()  # before any test module's aws_cdk import starts jsii's node
except NodeMissing as missing:
    raise pytest.UsageError(str(missing)) from None


def _load_infra_app() -> Any:
    spec = importlib.util.spec_from_file_location("agentcreator_cdk_app", ROOT / "infra" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Synthesized:
    app: Any
    outdir: Path
    templates: dict[str, Any]  # env -> aws_cdk.assertions.Template
    raw: dict[str, dict]  # env -> template JSON
    stacks: dict[str, Any]  # env -> AgentCreatorStack
    settings: dict[str, Any]  # env -> Settings


@pytest.fixture(scope="session")
def infra_app() -> Any:
    return _load_infra_app()


@pytest.fixture(scope="session")
def cdk_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(infra_app: Any, outdir: Path, context: dict | None = None) -> Synthesized:
    from aws_cdk.assertions import Template

    app = infra_app.build_app(context=context, outdir=str(outdir), nag=False)
    app.synth()
    stacks = {child.node.id.removeprefix("AgentCreator-"): child for child in app.node.children
              if child.node.id.startswith("AgentCreator-")}
    raw = {env: json.loads((outdir / f"AgentCreator-{env}.template.json").read_text()) for env in stacks}
    settings = {s.name: s for s in infra_app.environments(app)}
    return Synthesized(app, outdir, {env: Template.from_json(raw[env]) for env in raw}, raw, stacks, settings)


@pytest.fixture(scope="session")
def synthesized(infra_app: Any, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(infra_app, tmp_path_factory.mktemp("cdk.out"))


QA_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QA_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:111111111111:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
LAB_CERTIFICATE_ARN = "arn:aws:acm:ap-southeast-5:222222222222:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
VARIANTS = ("qa", "lab")


@pytest.fixture(scope="session")
def variant(infra_app: Any, cdk_context: dict, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Environments the defaults do not cover, in one app.

    qa: explicit account and an older region, Langfuse off, an imported KMS key, TLS with port 80
    redirecting. lab: a region opened after August 2022, no customer key, no ALB access logs,
    TLS with port 80 closed.
    """
    dev = cdk_context["agentcreator:environments"]["dev"]
    qa = {
        **dev, "account": "111111111111", "region": "eu-west-1", "availability_zones": ["eu-west-1a", "eu-west-1b"],
        "langfuse": {"enabled": False}, "bedrock_model_id": "eu.amazon.nova-pro-v1:0", "transaction_search": True,
        "security": {"kms_key": QA_KEY_ARN, "certificate_arn": QA_CERTIFICATE_ARN, "http": "redirect"},
    }
    lab = {
        **dev, "account": "222222222222", "region": "ap-southeast-5",
        "availability_zones": ["ap-southeast-5a", "ap-southeast-5b"],
        "security": {"kms_key": "none", "alb_access_logs": False, "certificate_arn": LAB_CERTIFICATE_ARN,
                     "lambda_reserved_concurrency": 2},
    }
    context = {"agentcreator:environments": {"qa": qa, "lab": lab}}
    return synthesize(infra_app, tmp_path_factory.mktemp("cdk.out.variant"), context)


@pytest.fixture(scope="session")
def settings(infra_app: Any, cdk_context: dict) -> dict[str, Any]:
    from agentcreator_infra.settings import parse_settings

    return {name: parse_settings(name, raw) for name, raw in cdk_context["agentcreator:environments"].items()}


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def one(template: dict, kind: str) -> dict:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return next(iter(found.values()))


def dashboard(template: dict, name: str) -> dict:
    """The CloudWatch dashboard called ``name`` (a stack has the collector's and the pipeline's)."""
    found = [d for d in resources(template, "AWS::CloudWatch::Dashboard").values()
             if d["Properties"].get("DashboardName") == name]
    assert len(found) == 1, f"expected one dashboard {name}, found {len(found)}"
    return found[0]


def containers(template: dict) -> dict[str, dict]:
    task = one(template, "AWS::ECS::TaskDefinition")
    return {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}


def environment_of(container: dict) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}


def ref(resource: dict | str) -> str | None:
    """The logical id behind a {"Ref": id} or {"Fn::GetAtt": [id, attr]}."""
    if isinstance(resource, dict):
        if "Ref" in resource:
            return resource["Ref"]
        if "Fn::GetAtt" in resource:
            return resource["Fn::GetAtt"][0]
    return None


def widget_metrics(body: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of every metric a dashboard body draws, math inputs included."""
    found = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            plain = [item for item in row if isinstance(item, str)]
            if len(plain) >= 2 and not (isinstance(row[0], dict) and "expression" in row[0]):
                namespace, name, *pairs = plain
                found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(alarm: dict) -> list[dict]:
    """Namespace, name and dimensions of every metric an alarm reads (plain, or inside metric math)."""
    if "MetricName" in alarm:
        return [{"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"],
                 "Dimensions": alarm.get("Dimensions", [])}]
    return [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]


def pipeline_alarms(raw: dict) -> dict[str, dict]:
    """The pipeline's alarms (logical id -> properties)."""
    return {key: alarm["Properties"] for key, alarm in resources(raw, "AWS::CloudWatch::Alarm").items()
            if key.startswith("Pipeline")}


def pipeline_dashboard_body(raw: dict, env: str) -> dict:
    """The pipeline dashboard's body, parsed (a Ref inside it reads as REF)."""
    body = dashboard(raw, f"AgentCreator-{env}-pipeline")["Properties"]["DashboardBody"]
    text = "".join(part if isinstance(part, str) else "REF" for part in body["Fn::Join"][1]) \
        if isinstance(body, dict) else body
    return json.loads(text)


def pipeline_metrics_read(raw: dict, env: str) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, name, dimensions) of every metric the pipeline dashboard and alarms read."""
    read = {(namespace, name, frozenset(dimensions.items()))
            for namespace, name, dimensions in widget_metrics(pipeline_dashboard_body(raw, env))}
    for alarm in pipeline_alarms(raw).values():
        read |= {(m["Namespace"], m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]))
                 for m in alarm_metrics(alarm)}
    return read
