"""Each security point is a per-environment setting in cdk.json; every default is the safe choice."""

from __future__ import annotations

import re

import pytest

from tests.infra.conftest import ROOT

CERT = "arn:aws:acm:eu-west-1:111111111111:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _parse(cdk_context, **security):
    from agentcreator_infra.settings import parse_settings

    raw = {k: v for k, v in cdk_context["agentcreator:environments"]["dev"].items() if k != "security"}
    if security:
        raw["security"] = security
    return parse_settings("dev", raw)


def test_without_a_security_block_every_default_is_the_safe_one(cdk_context):
    security = _parse(cdk_context).security
    assert security.kms_key == "create"
    assert security.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert security.http == "closed"
    assert security.alb_access_logs is True
    assert security.lambda_reserved_concurrency == 1
    assert security.certificate_arn is None  # documented: internal ALB, plain HTTP inside the VPC


def test_prod_states_its_security_settings_in_cdk_json(cdk_context, settings):
    block = cdk_context["agentcreator:environments"]["prod"]["security"]
    assert block["kms_key"] == "create" and block["alb_access_logs"] is True and block["ecr_scan_on_push"] is True
    assert block["http"] == "closed" and block["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert settings["prod"].security.access_log_retention_days >= 90
    for env in ("dev", "staging", "prod"):
        assert settings[env].security.kms_key == "create" and settings[env].security.alb_access_logs


@pytest.mark.parametrize(("security", "message"), [
    ({"kms_key": "alias/mine"}, "security.kms_key"),
    ({"kms_key": KEY.replace("eu-west-1", "us-east-1")}, None),  # no region in dev: any region is accepted
    ({"certificate_arn": "arn:aws:iam::111111111111:server-certificate/x"}, "security.certificate_arn"),
    ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, "security.ssl_policy"),
    ({"ssl_policy": "ELBSecurityPolicy-TLS13-1-0-2021-06"}, "security.ssl_policy"),
    ({"ssl_policy": "ELBSecurityPolicy-TLS13-1-3-2021-06"}, None),
    ({"http": "open"}, "security.http"),
    ({"alb_access_logs": "yes"}, "security.alb_access_logs"),
    ({"lambda_reserved_concurrency": 0}, "security.lambda_reserved_concurrency"),
    ({"tls": True}, "unknown keys"),
])
def test_security_settings_are_checked_with_the_key_named(cdk_context, security, message):
    from agentcreator_infra.settings import SettingsError

    if message is None:
        _parse(cdk_context, **security)
        return
    with pytest.raises(SettingsError, match=re.escape(message)):
        _parse(cdk_context, **security)


def test_a_key_or_certificate_from_another_region_fails_synth(cdk_context):
    from agentcreator_infra.settings import SettingsError, parse_settings

    raw = {**cdk_context["agentcreator:environments"]["dev"], "account": "111111111111", "region": "us-east-1"}
    for key, value in (("kms_key", KEY), ("certificate_arn", CERT)):
        with pytest.raises(SettingsError, match=f"`security.{key}` is in eu-west-1, the stack in us-east-1"):
            parse_settings("dev", {**raw, "security": {key: value}})


def test_security_doc_covers_each_choice_and_an_imported_keys_policy():
    doc = (ROOT / "docs" / "security.md").read_text()
    for needed in ("kms_key", "certificate_arn", "ssl_policy", "alb_access_logs", "lambda_reserved_concurrency",
                   "ecr_scan_on_push", "logs.<region>.amazonaws.com", "kms:EncryptionContext:aws:logs:arn",
                   "cloudwatch.amazonaws.com", "events.amazonaws.com", "kms:ViaService", "SSE-S3",
                   "readonlyRootFilesystem", "VOLUME", "plain HTTP"):
        assert needed in doc, needed
    assert "docs/security.md" in (ROOT / "docs" / "deploy.md").read_text()
