"""``agentcreator canary check``: is a canary in each backend, and how long after it was sent?

Given ``--trace-id``, that trace; otherwise the newest canary the environment's tasks logged
(``--log-group``, by default the stack's ``AppLogGroupName`` output). Each backend is asked until the
trace is there or ``--timeout`` after it was sent, and answers with one line: delivered after
N s, or not delivered and why (auth, not found, timed out, error). X-Ray is read the way the
account stores traces (``--xray-read``); Langfuse with ``LANGFUSE_PUBLIC_KEY``/``LANGFUSE_SECRET_KEY``
when set, else the environment's own secret. Exit 0 when every backend has it, 1 when one does
not, 2 on bad input.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from agentcreator.canary import readback

if TYPE_CHECKING:
    import argparse

_PROG = "agentcreator canary check"
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_LOOKBACK_S = 3600


class _Failure(Exception):
    """A reason the check cannot run; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment: dev, staging, prod, ...")
    parser.add_argument("--trace-id", help="the canary's trace id (32 hex digits); default: the newest logged one")
    parser.add_argument("--log-group", help="where the tasks log their canaries (default: the stack's output)")
    parser.add_argument("--sent-at", type=float, metavar="EPOCH_S",
                        help="when that canary was sent (printed by `canary send`); default: now")
    parser.add_argument("--backend", action="append", choices=(readback.XRAY, readback.LANGFUSE),
                        help="a backend to check (repeatable; default both)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="give up this many seconds after the canary was sent (default 120)")
    parser.add_argument("--poll", type=float, default=5.0, metavar="S", help="seconds between looks (default 5)")
    parser.add_argument("--xray-read", choices=readback.XRAY_READS, default="auto",
                        help="how to read X-Ray: auto asks X-Ray where this account stores traces")
    parser.add_argument("--langfuse-host", help="Langfuse base URL (default: LANGFUSE_HOST, else cloud.langfuse.com)")
    parser.add_argument("--region", help="AWS region (default: the AWS SDK's own resolution)")


def _client(session: Any, name: str) -> Any:
    return session.client(name)


def app_log_group(session: Any, env: str) -> str:
    """The log group the environment's tasks write to: the stack's ``AppLogGroupName`` output."""
    stack = f"AgentCreator-{env}"
    try:
        outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except Exception as error:
        raise _Failure(f"cannot read stack {stack}: {_aws_code(error)} (give --trace-id to check one trace)") from None
    group = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "AppLogGroupName"), None)
    if group is None:
        raise _Failure(f"stack {stack} has no AppLogGroupName output (deploy the current stack)")
    return group


def _newest_logged(session: Any, group: str) -> readback.Sent:
    since = int((time.time() - _LOOKBACK_S) * 1000)
    try:
        pages = session.client("logs").get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=f'"{readback.LOG_MARKER}"', startTime=since)
        messages = [event["message"] for page in pages for event in page.get("events", [])]
    except Exception as error:
        raise _Failure(f"cannot read log group {group}: {_aws_code(error)}") from None
    canaries = readback.canaries_in(messages)
    if not canaries:
        raise _Failure(f"no canary logged in {group} in the last hour: is AGENTCREATOR_CANARY_INTERVAL_S set?")
    return max(canaries, key=lambda canary: canary.emitted_at)


def _langfuse_authorization(session: Any, env: str) -> str:
    from agentcreator.collector import secret_name
    from agentcreator.config import langfuse_authorization

    public = os.environ.get("LANGFUSE_PUBLIC_KEY", "").strip()
    secret = os.environ.get("LANGFUSE_SECRET_KEY", "").strip()
    if public and secret:
        return langfuse_authorization(public, secret)
    name = secret_name(env)
    try:
        return session.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    except Exception as error:
        raise _Failure(f"cannot read the Langfuse secret {name}: {_aws_code(error)} "
                       "(or set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)") from None


def _aws_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return (response.get("Error") or {}).get("Code") or str(error) or type(error).__name__


def _validate(args: argparse.Namespace) -> None:
    from agentcreator.collector import ENVIRONMENT_NAME

    if not ENVIRONMENT_NAME.match(args.env):
        raise _Failure(f"--env {args.env!r} is not an environment name", 2)
    if args.trace_id is not None and not _TRACE_ID.match(args.trace_id):
        raise _Failure(f"--trace-id {args.trace_id!r} is not 32 lower-case hex digits", 2)
    if args.sent_at is not None and args.trace_id is None:
        raise _Failure("--sent-at needs --trace-id", 2)
    if args.timeout <= 0 or args.poll <= 0:
        raise _Failure("--timeout and --poll must be positive", 2)
    host = args.langfuse_host
    if host is not None and not host.startswith(("https://", "http://")):
        raise _Failure(f"--langfuse-host {host!r} is not an http(s) URL", 2)


def run(args: argparse.Namespace) -> int:
    try:
        _validate(args)
        import boto3

        session = boto3.session.Session(region_name=args.region)
        if args.trace_id:
            canary = readback.Sent(args.trace_id, args.sent_at if args.sent_at is not None else time.time())
        else:
            canary = _newest_logged(session, args.log_group or app_log_group(session, args.env))
        backends = args.backend or [readback.XRAY, readback.LANGFUSE]
        readers: list[Any] = []
        if readback.XRAY in backends:
            readers.append(readback.XRayReader(_client(session, "xray"), args.xray_read))
        if readback.LANGFUSE in backends:
            host = args.langfuse_host or os.environ.get("LANGFUSE_HOST", "").strip() or "https://cloud.langfuse.com"
            readers.append(readback.LangfuseReader(host, _langfuse_authorization(session, args.env)))
    except _Failure as failure:
        print(f"{_PROG}: {'error: ' if failure.code == 2 else ''}{failure}", file=sys.stderr)
        return failure.code
    except Exception as error:  # no credentials, no region: the AWS SDK's own one line
        print(f"{_PROG}: {error}", file=sys.stderr)
        return 1
    age = time.time() - canary.emitted_at
    print(f"canary {canary.trace_id}, sent {age:.0f} s ago; waiting up to {args.timeout:g} s after it was sent")
    outcomes = readback.check([canary], readers, timeout_s=args.timeout, poll_s=args.poll)
    for outcome in outcomes:
        print(outcome.line())
    return 0 if outcomes and all(outcome.delivered for outcome in outcomes) else 1
