"""cdk-nag clean, cfn-lint clean, no secret material in any template."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.infra.conftest import ROOT

NAG_MODULE = ROOT / "infra" / "agentcreator_infra" / "nag_acknowledgements.py"


def _nag_findings(app) -> list[str]:
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(app)
    return [f"{v.rule_name} at {r.construct_path}" for v in report.violations for r in v.violating_resources]


def test_cdk_nag_aws_solutions_has_no_unacknowledged_findings(synthesized):
    assert _nag_findings(synthesized.app) == []


def test_cdk_nag_is_clean_for_a_langfuse_off_explicit_account_environment(variant):
    assert _nag_findings(variant.app) == []


def test_every_acknowledgement_lives_in_one_module_with_a_reason():
    for path in (ROOT / "infra").rglob("*.py"):
        if path != NAG_MODULE:
            text = path.read_text()
            assert not re.search(r"Acknowledgment\(|\.acknowledge\(|\"cfn-lint\"", text.replace(
                "nag_acknowledgements.acknowledge(", "")), f"{path} acknowledges a finding outside {NAG_MODULE.name}"
    source = NAG_MODULE.read_text()
    calls = re.findall(r'_ack\(\s*[\w.]+,\s*f?"([^"]+)",\s*((?:"[^"]*"\s*)+|\w+)', source)
    assert len(calls) >= 5
    for finding, reason in calls:
        assert re.match(r"^(AwsSolutions|CloudFormation-Validate::)[\w-]+(\[.+\])?$", finding), finding
        assert reason.strip() and (not reason.startswith('"') or len(reason) > 60), finding


def test_nag_runs_during_make_synth(infra_app):
    from aws_cdk import Validations  # noqa: F401 - imported to prove the v3 API is the one in use

    source = (ROOT / "infra" / "app.py").read_text()
    assert "Validations.of(app).add_plugins(AwsSolutionsChecks(app))" in source


def _all_templates(synthesized, variant) -> dict[str, str]:
    found = {p.name: p for p in synthesized.outdir.glob("*.template.json")}
    found.update({p.name: p for p in variant.outdir.glob("*.template.json")})
    assert len(found) == 5
    return {name: str(path) for name, path in found.items()}


def test_cfn_lint_reports_no_errors(synthesized, variant):
    templates = _all_templates(synthesized, variant)
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "json", *templates.values()],
        capture_output=True, text=True, timeout=240, check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == []


def test_only_the_collector_config_skips_cfn_lint_e1029(synthesized):
    """The ${env:NAME} references are the collector's; nothing else may silence cfn-lint."""
    for raw in synthesized.raw.values():
        skipping = {k: v["Metadata"]["cfn-lint"] for k, v in raw["Resources"].items()
                    if "cfn-lint" in v.get("Metadata", {})}
        assert [v["Type"] for k, v in raw["Resources"].items() if k in skipping] == ["AWS::ECS::TaskDefinition"]
        assert [c["config"]["ignore_checks"] for c in skipping.values()] == [["E1029"]]


@pytest.mark.parametrize("pattern", [
    r"Basic [A-Za-z0-9+/=]{8,}",  # an Authorization header value
    r"Basic ",
    r"(?<![0-9A-Fa-f])\d{12}(?![0-9A-Fa-f])",  # an account id (not a run of digits inside an asset hash)
    r"sk-lf-", r"pk-lf-",  # Langfuse keys
    r"AKIA[0-9A-Z]{16}",  # an access key
])
def test_no_secret_material_or_account_id_in_templates(synthesized, pattern):
    from agentcreator_infra.access_logs import elb_log_accounts

    for name, raw in synthesized.raw.items():
        # The one place 12 digits may appear: AWS's own ELB log-delivery accounts, from CDK's region facts.
        mappings = dict(raw.get("Mappings", {}))
        elb = [k for k, v in mappings.items() if v == {r: {"account": a} for r, a in elb_log_accounts().items()}]
        assert len(elb) == 1
        rest = {**raw, "Mappings": {k: v for k, v in mappings.items() if k not in elb}}
        assert not re.search(pattern, json.dumps(rest)), f"{pattern} in AgentCreator-{name}"
