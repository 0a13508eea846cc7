"""Force a new deployment of one ECS service when its Langfuse secret changes.

Invoked by EventBridge with a CloudTrail "AWS API Call via CloudTrail" event from Secrets
Manager. ECS reads secrets only at task start, so new tasks are the only way the collector
sees a new value. Standard library and boto3 only (the Lambda runtime provides both).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)
CHANGE_EVENTS = frozenset({"PutSecretValue", "UpdateSecret", "RotateSecret", "UpdateSecretVersionStage"})


def _is_our_secret(secret_id: str, secret_arn: str, secret_name: str) -> bool:
    """A caller may pass the name, the full ARN, or the ARN without its random suffix."""
    if not secret_id:
        return False
    if secret_id in (secret_arn, secret_name):
        return True
    partial_arn = secret_arn.rsplit("-", 1)[0]  # full ARNs end in -XXXXXX
    return secret_id == partial_arn and partial_arn.endswith(f":secret:{secret_name}")


def _changes_current_value(detail: dict[str, Any]) -> bool:
    """Skip steps that do not move AWSCURRENT (a rotation's AWSPENDING write, say)."""
    params = detail.get("requestParameters") or {}
    name = detail.get("eventName")
    if name == "PutSecretValue" and params.get("versionStages"):
        return "AWSCURRENT" in params["versionStages"]
    if name == "UpdateSecretVersionStage":
        return params.get("versionStage") == "AWSCURRENT"
    return name in CHANGE_EVENTS


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event.get("detail") or {}
    secret_id = (detail.get("requestParameters") or {}).get("secretId", "")
    secret_arn, secret_name = os.environ["SECRET_ARN"], os.environ["SECRET_NAME"]
    if detail.get("errorCode") or detail.get("eventName") not in CHANGE_EVENTS:
        LOG.info("ignored: %s", json.dumps({"event": detail.get("eventName"), "error": detail.get("errorCode")}))
        return {"redeployed": False, "reason": "not a successful secret change"}
    if not _is_our_secret(secret_id, secret_arn, secret_name):
        LOG.info("ignored: event for another secret")
        return {"redeployed": False, "reason": "another secret"}
    if not _changes_current_value(detail):
        LOG.info("ignored: %s does not change AWSCURRENT", detail.get("eventName"))
        return {"redeployed": False, "reason": "current value unchanged"}
    cluster, service = os.environ["CLUSTER_ARN"], os.environ["SERVICE_NAME"]
    import boto3  # provided by the Lambda runtime; imported here so ignored events stay cheap

    response = boto3.client("ecs").update_service(cluster=cluster, service=service, forceNewDeployment=True)
    deployment = next(iter(response["service"].get("deployments", [])), {}).get("id")
    LOG.info("forced a new deployment of %s after %s: %s", service, detail.get("eventName"), deployment)
    return {"redeployed": True, "service": service, "deployment": deployment}
