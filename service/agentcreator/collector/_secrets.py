"""The name of the secret that holds the collector's Langfuse header: the stack creates it under
this name, `agentcreator secrets set-langfuse` writes to it."""

from __future__ import annotations

import re

SECRET_NAME_TEMPLATE = "agentcreator/{env}/langfuse-otlp-authorization"
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def secret_name(env: str) -> str:
    """The Secrets Manager name of ``env``'s Langfuse header secret."""
    if not ENVIRONMENT_NAME.match(env):
        raise ValueError(f"environment name {env!r} must match {ENVIRONMENT_NAME.pattern}")
    return SECRET_NAME_TEMPLATE.format(env=env)
