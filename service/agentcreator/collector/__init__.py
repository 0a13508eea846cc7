"""The ADOT collector sidecar's deploy-time contract, shared by `infra/` and the CLI: pinned
version, per-environment rendering, validation, and the name of the secret its Langfuse header is in.

from agentcreator.collector import ADOT_IMAGE, render_config, required_env, validate_config
text = render_config(langfuse_enabled=False, values=env)   # AOT_CONFIG_CONTENT; ValueError on a bad value
assert not validate_config(text) and required_env(text) <= INFRA_PROVIDED_ENV
"""

from __future__ import annotations

from agentcreator.collector._metrics import AdotMetrics, load_metrics
from agentcreator.collector._render import render_config, required_env
from agentcreator.collector._secrets import ENVIRONMENT_NAME, secret_name
from agentcreator.collector._settings import (
    ADOT_IMAGE,
    ADOT_VERSION,
    APP_OTLP_ENDPOINT,
    CONFIG_PATH,
    DEFAULT_XRAY_MODE,
    INFRA_PROVIDED_ENV,
    XRAY_MODES,
)
from agentcreator.collector._validate import validate_config
from agentcreator.collector._values import check_values

__all__ = [
    "ADOT_IMAGE",
    "AdotMetrics",
    "ADOT_VERSION",
    "APP_OTLP_ENDPOINT",
    "CONFIG_PATH",
    "DEFAULT_XRAY_MODE",
    "ENVIRONMENT_NAME",
    "INFRA_PROVIDED_ENV",
    "XRAY_MODES",
    "check_values",
    "load_metrics",
    "render_config",
    "required_env",
    "secret_name",
    "validate_config",
]
