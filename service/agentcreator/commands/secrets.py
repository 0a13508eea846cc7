"""`agentcreator secrets set-langfuse`: store Langfuse's OTLP Authorization header in Secrets Manager.

The header is ``Basic base64(public_key:secret_key)``; only the ADOT collector reads it (ECS
``secrets``), so the keys never appear in a task definition. Writing a new version triggers a
redeploy of that environment's service (see docs/deploy.md).

    agentcreator secrets set-langfuse --env prod            # prompts for both keys
    printf '%s\n%s\n' "$PK" "$SK" | agentcreator secrets set-langfuse --env prod
"""

from __future__ import annotations

import getpass
import re
import sys
from typing import TYPE_CHECKING, TextIO

from agentcreator.collector import secret_name
from agentcreator.config import langfuse_authorization

if TYPE_CHECKING:
    import argparse

_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable, no spaces: what Langfuse issues


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment: dev, staging, prod, ...")
    parser.add_argument("--public-key", help="Langfuse public key (pk-lf-...); prompted for when omitted")
    parser.add_argument("--secret-key", help="Langfuse secret key (sk-lf-...); prompted for when omitted")
    parser.add_argument("--region", help="AWS region (default: the AWS SDK's own resolution)")


def _read_keys(args: argparse.Namespace, stdin: TextIO) -> tuple[str, str]:
    """Flags first, then stdin lines when piped, else hidden prompts: the keys are never echoed."""
    public_key, secret_key = args.public_key or "", args.secret_key or ""
    if public_key and secret_key:
        return public_key, secret_key
    if not stdin.isatty():
        lines = iter([line.strip() for line in stdin.read().splitlines() if line.strip()])
        return public_key or next(lines, ""), secret_key or next(lines, "")
    public_key = public_key or getpass.getpass("Langfuse public key: ").strip()
    secret_key = secret_key or getpass.getpass("Langfuse secret key: ").strip()
    return public_key, secret_key


def _check_keys(public_key: str, secret_key: str) -> None:
    for label, key in (("public key", public_key), ("secret key", secret_key)):
        if not key or not _KEY.match(key):
            raise ValueError(f"the Langfuse {label} is empty or contains spaces or control characters")
    if public_key.startswith("sk-") or secret_key.startswith("pk-"):
        raise ValueError("the public and secret keys look swapped (pk-... is public, sk-... is secret)")


def run(args: argparse.Namespace) -> int:
    try:
        name = secret_name(args.env)
        public_key, secret_key = _read_keys(args, sys.stdin)
        _check_keys(public_key, secret_key)
    except (ValueError, EOFError) as bad:
        print(f"agentcreator secrets set-langfuse: {bad}", file=sys.stderr)
        return 2
    import boto3  # lazily: the CLI starts without the AWS SDK
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("secretsmanager", region_name=args.region)
    try:
        version = client.put_secret_value(
            SecretId=name, SecretString=langfuse_authorization(public_key, secret_key)
        )["VersionId"]
    except ClientError as failed:
        error = failed.response.get("Error", {})
        hint = " (deploy the stack first)" if error.get("Code") == "ResourceNotFoundException" else ""
        print(f"agentcreator secrets set-langfuse: {name}: {error.get('Code')}{hint}", file=sys.stderr)
        return 1
    except BotoCoreError as failed:
        print(f"agentcreator secrets set-langfuse: {failed}", file=sys.stderr)
        return 1
    print(f"stored a new version {version} of {name}; the service redeploys to pick it up")
    return 0
