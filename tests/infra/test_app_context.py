"""cdk.json, the environments context, one stack per environment, `make synth`."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import Token

from tests.infra.conftest import ENVIRONMENTS, ROOT


def test_cdk_json_runs_the_app_with_the_locked_environments_python():
    """Not `uv run`: uv lives in .tools/, off PATH, and without --no-sync it would replace pinned packages."""
    config = json.loads((ROOT / "cdk.json").read_text())
    assert config["app"] == ".venv/bin/python infra/app.py"


def test_context_holds_the_three_environments_with_every_setting(cdk_context):
    environments = cdk_context["agentcreator:environments"]
    assert set(environments) == set(ENVIRONMENTS)
    for raw in environments.values():
        assert {"vpc", "task", "scaling", "sampling", "log_retention_days", "langfuse", "alarm_email",
                "bedrock_model_id"} <= set(raw)
        assert {"cpu", "memory_mib", "collector_memory_mib"} <= set(raw["task"])
        assert {"desired", "min", "max"} <= set(raw["scaling"])
        assert {"percentage", "latency_threshold_ms"} <= set(raw["sampling"])
        assert {"enabled", "host"} <= set(raw["langfuse"])


def test_one_stack_per_environment(synthesized):
    assert sorted(synthesized.stacks) == sorted(ENVIRONMENTS)
    for env, stack in synthesized.stacks.items():
        assert stack.stack_name == f"AgentCreator-{env}"
        assert (synthesized.outdir / f"AgentCreator-{env}.template.json").is_file()


def test_default_environments_are_environment_agnostic(synthesized):
    for stack in synthesized.stacks.values():
        assert Token.is_unresolved(stack.account) and Token.is_unresolved(stack.region)


def test_env_context_selects_one_environment(infra_app):
    app = infra_app.build_app(context={"env": "prod"}, outdir=None, nag=False)
    assert [c.node.id for c in app.node.children if c.node.id.startswith("AgentCreator-")] == ["AgentCreator-prod"]


def test_unknown_env_context_fails_with_a_clear_message(infra_app):
    from agentcreator_infra.settings import SettingsError

    with pytest.raises(SettingsError, match="no such environment"):
        infra_app.build_app(context={"env": "qa"}, nag=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": {"cpu": 512, "memory_mib": 512, "collector_memory_mib": 256}}, "not a Fargate size"),
        ({"scaling": {"desired": 5, "min": 1, "max": 2}}, "scaling.min <= scaling.desired"),
        ({"sampling": {"percentage": 0, "latency_threshold_ms": 100}}, "sampling.percentage"),
        ({"log_retention_days": 8}, "log_retention_days"),
        ({"langfuse": {"enabled": True, "host": "http://plain"}}, "https://"),
        ({"alarm_email": "nobody"}, "alarm_email"),
        ({"vpc": {"id": "vpc-0123456789abcdef0"}}, "needs `account` and `region`"),
        ({"account": "123"}, "12 digits"),
        ({"colour": "blue"}, "unknown keys"),
        ({"xray_mode": "daemon"}, "`xray_mode` must be one of otlp, awsxray"),
    ],
)
def test_invalid_settings_fail_synth_with_the_key_named(cdk_context, change, message):
    from agentcreator_infra.settings import SettingsError, parse_settings

    raw = {**cdk_context["agentcreator:environments"]["dev"], **change}
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings("dev", raw)


def test_make_synth_runs_the_app_without_the_cdk_cli():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nsynth:", 1)[1].split("\n\n", 1)[0]
    assert "python infra/app.py" in recipe
    assert "npx" not in recipe and "cdk synth" not in recipe


def test_app_writes_to_cdk_out_by_default(infra_app):
    source = (ROOT / "infra" / "app.py").read_text()
    assert 'ROOT / "cdk.out"' in source
    assert infra_app.ENVIRONMENTS_KEY == "agentcreator:environments"


def test_stack_outputs_point_at_the_dashboard_and_secret(synthesized):
    for env, raw in synthesized.raw.items():
        outputs = raw["Outputs"]
        assert {"DashboardUrl", "AlarmTopicArn", "LangfuseSecretName", "ServiceName"} <= set(outputs)
        assert outputs["LangfuseSecretName"]["Value"] == f"agentcreator/{env}/langfuse-otlp-authorization"


def test_deploy_doc_covers_deploy_keys_rotation_dashboard_and_cloudtrail():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for needed in ("npx aws-cdk deploy AgentCreator-prod", "-c env=", "agentcreator secrets set-langfuse",
                   "Rotating", "AgentCreator-<env>", "CloudTrail", "agentcreator/<env>/langfuse-otlp-authorization"):
        assert needed in doc, needed


def _alarm_ids(alarms) -> list[str]:
    return sorted(alarm.node.id for alarm in alarms)


def test_the_deploy_doc_names_every_alarm_of_the_dashboards_and_no_other(synthesized):
    """Its alarm tables are what an operator reads when an e-mail arrives: they follow the code."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = doc.split("## The dashboard and alarms", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)
    for env, stack in synthesized.stacks.items():
        assert sorted(documented) == _alarm_ids((*stack.observability.alarms, *stack.pipeline.alarms)), env


def test_the_observability_guide_names_each_dashboards_alarms(synthesized):
    rows = {}
    for line in (ROOT / "docs" / "aws-observability.md").read_text().splitlines():
        if line.startswith("| **"):
            where, what = line.split(" | ")[:2]
            rows[where] = sorted(re.findall(r"`(\w+)`", what))
    stack = synthesized.stacks["dev"]
    assert rows["| **Alarms** (SNS topic in the stack, e-mail)"] == _alarm_ids(stack.observability.alarms)
    assert rows["| **Dashboard `AgentCreator-<env>-pipeline`**"] == _alarm_ids(stack.pipeline.alarms)


def test_infra_and_collector_agree_on_the_xray_modes():
    from agentcreator.collector import DEFAULT_XRAY_MODE, XRAY_MODES
    from agentcreator_infra.settings import XRAY_MODES as INFRA_XRAY_MODES

    assert INFRA_XRAY_MODES == XRAY_MODES and INFRA_XRAY_MODES[0] == DEFAULT_XRAY_MODE
