"""The collector keeps every canary, whatever the sampling percentage, in every rendered variant."""

from __future__ import annotations

import pytest
import yaml

from agentcreator.canary import CANARY_ATTRIBUTE
from agentcreator.collector import render_config
from agentcreator.collector._settings import XRAY_MODES


@pytest.mark.parametrize("mode", XRAY_MODES)
@pytest.mark.parametrize("langfuse", [True, False])
def test_a_tail_sampling_policy_keeps_the_canary(langfuse, mode):
    doc = yaml.safe_load(render_config(langfuse_enabled=langfuse, xray_mode=mode))
    samplers = [value for key, value in doc["processors"].items() if key.split("/")[0] == "tail_sampling"]
    assert samplers, "no tail_sampling processor"
    for sampler in samplers:
        # top-level policies are OR-ed: any one that says "sample" keeps the whole trace
        kept = [p for p in sampler["policies"] if p["type"] == "boolean_attribute"
                and p["boolean_attribute"] == {"key": CANARY_ATTRIBUTE, "value": True}]
        assert len(kept) == 1
