"""What every Lambda function in the stacks gets, so a function added later cannot forget it.

A dead-letter queue (encrypted, TLS-only, kept 14 days) for the events it failed after Lambda's
retries, bounded asynchronous retries, reserved concurrency, and its environment encrypted with
the environment's key. Each function's log group (with retention and the key) stays next to
the function, since its name and permissions are the function's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from constructs import Construct

DEAD_LETTER_RETENTION = Duration.days(14)  # SQS's maximum: time to notice and replay a failure
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


def dead_letter_queue(scope: Construct, construct_id: str, key: kms.IKey | None) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )


def key_use_through(
    service: str, scope: Construct, key: kms.IKey, *actions: str
) -> iam.PolicyStatement:
    """`actions` on the key only when `service` calls KMS for the role: the role alone cannot
    decrypt with it (for one, what else the key encrypts)."""
    return iam.PolicyStatement(
        actions=list(actions),
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{Stack.of(scope).region}.amazonaws.com"}},
    )


def hardened(
    *, role: iam.IRole, key: kms.IKey | None, reserved_concurrency: int, dead_letters: sqs.IQueue
) -> dict[str, Any]:
    """Keyword arguments for `lambda_.Function`; grants the role what writing dead letters needs."""
    if key is not None:
        # Lambda writes dead letters as the function's role; SQS encrypts with the key on its behalf.
        role.add_to_principal_policy(key_use_through("sqs", dead_letters, key, "kms:GenerateDataKey", "kms:Decrypt"))
    return {
        "dead_letter_queue": dead_letters,
        "retry_attempts": RETRY_ATTEMPTS,
        "max_event_age": MAX_EVENT_AGE,
        "reserved_concurrent_executions": reserved_concurrency,
        "environment_encryption": key,
    }
