"""The ADOT collector sidecar's configuration: pinned version, per-environment rendering, validation.

from agentcreator.collector import ADOT_IMAGE, render_config, required_env, validate_config
text = render_config(langfuse_enabled=False)          # AOT_CONFIG_CONTENT for one environment
assert not validate_config(text) and required_env(text) <= INFRA_PROVIDED_ENV
"""

from __future__ import annotations

from agentcreator.collector._render import render_config, required_env
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

__all__ = [
    "ADOT_IMAGE",
    "ADOT_VERSION",
    "APP_OTLP_ENDPOINT",
    "CONFIG_PATH",
    "DEFAULT_XRAY_MODE",
    "INFRA_PROVIDED_ENV",
    "XRAY_MODES",
    "render_config",
    "required_env",
    "validate_config",
]
