"""Opt-in: the synthesized templates reviewed by checkov, a third-party IaC policy suite.

checkov is not a project dependency (its own dependency tree is large, and nothing at run time
needs it): install it in a virtualenv of its own and point AGENTCREATOR_CHECKOV at its executable.
It runs offline (`--skip-download`). The findings it may report are exactly the accepted ones that
docs/security.md lists with their reasons; any other failure, or an accepted one that no longer
fails, breaks the test, so the document cannot drift from the templates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.infra.conftest import ROOT

CHECKOV = os.environ.get("AGENTCREATOR_CHECKOV", "")
pytestmark = pytest.mark.skipif(
    not CHECKOV, reason="set AGENTCREATOR_CHECKOV to a checkov executable to review the templates"
)

# check id -> the resources (logical id prefixes) for which it is an accepted, documented choice
ACCEPTED_WITHOUT_CERTIFICATE = {
    "CKV_AWS_2": {"ServiceAlbHttp"},  # plain HTTP inside the VPC until a certificate is set
    "CKV_AWS_103": {"ServiceAlbHttp"},
}
ACCEPTED = {
    "CKV_AWS_18": {"ServiceAccessLogsServerAccessLogs"},  # the bucket that logs access to the log bucket
    "CKV_AWS_117": {"RedeployFunction", "CanaryFunction"},  # control-plane functions outside the VPC
}

# what checkov reports when `kms_key` is "none" and `alb_access_logs` false (docs/security.md)
WITHOUT_KEY_OR_ACCESS_LOGS = {
    "CKV_AWS_158",  # log groups without a customer key
    "CKV_AWS_149",  # the secret without a customer key
    "CKV_AWS_27",  # the dead-letter queues (checkov does not count SQS-managed encryption)
    "CKV_AWS_173",  # function environments without a customer key
    "CKV_AWS_91",  # the ALB without access logs
}


def _checkov(template, framework: str = "cloudformation") -> dict:
    executable = shutil.which(CHECKOV) or CHECKOV
    result = subprocess.run(
        [executable, "-f", str(template), "--framework", framework, "--skip-download", "--quiet", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    return report


def _failed(report: dict) -> dict[str, set[str]]:
    failed: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failed.setdefault(check["check_id"], set()).add(check["resource"].split(".", 1)[1])
    return failed


def _accepts(accepted: dict[str, set[str]], failed: dict[str, set[str]]) -> bool:
    return set(failed) == set(accepted) and all(
        len(failed[check]) == len(prefixes)
        and all(any(resource.startswith(p) for resource in failed[check]) for p in prefixes)
        for check, prefixes in accepted.items()
    )


def test_prod_fails_only_the_documented_checks(synthesized):
    report = _checkov(synthesized.outdir / "AgentCreator-prod.template.json")
    failed = _failed(report)
    assert _accepts(ACCEPTED | ACCEPTED_WITHOUT_CERTIFICATE, failed), failed
    assert report["summary"]["passed"] > 100  # the suite really ran its CloudFormation checks
    doc = (ROOT / "docs" / "security.md").read_text()
    summary = report["summary"]
    assert f"{summary['passed']} checks pass, {summary['failed']} fail" in " ".join(doc.split())
    for check in {*failed, *WITHOUT_KEY_OR_ACCESS_LOGS}:
        assert re.search(rf"`{check}`", doc), check


def test_with_a_certificate_the_listener_checks_pass(variant):
    # qa: an imported key, TLS, port 80 only redirecting; only the choices that hold everywhere remain
    failed = _failed(_checkov(variant.outdir / "AgentCreator-qa.template.json"))
    assert _accepts(ACCEPTED, failed), failed
    # lab turns the key and the access logs off on purpose, and checkov says so; its listener passes
    failed = _failed(_checkov(variant.outdir / "AgentCreator-lab.template.json"))
    assert set(failed) == {"CKV_AWS_117", *WITHOUT_KEY_OR_ACCESS_LOGS}, failed


def test_the_image_fails_only_the_check_that_cannot_read_its_pinned_base():
    report = _checkov(ROOT / "service" / "Dockerfile", framework="dockerfile")
    # CKV_DOCKER_7 sees `FROM ${PYTHON_IMAGE}`, not the ARG's tag and digest
    assert set(_failed(report)) == {"CKV_DOCKER_7"}
    doc = (ROOT / "docs" / "security.md").read_text()
    assert f"{report['summary']['passed']} pass, 1 fails: `CKV_DOCKER_7`" in " ".join(doc.split())
