"""Prices from LiteLLM's bundled cost map: profiles, unknown models, the offline LM's stand-in."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from agentcreator.config import ConfigError
from agentcreator.pipeline.offline_lm import parse_offline_model
from agentcreator.telemetry import pricing
from tests.unit.conftest import run_pipeline


@pytest.fixture(autouse=True)
def _fresh_prices():
    pricing.reset()
    yield
    pricing.reset()


def _bundled() -> dict:
    table = pricing._bundled_map()
    assert table is not None and len(table) > 1000
    return table


def test_bedrock_model_strings_price_from_the_map_entry() -> None:
    entry = _bundled()["amazon.nova-pro-v1:0"]
    price = pricing.price_of("bedrock/amazon.nova-pro-v1:0")
    assert price is not None and price.entry == "amazon.nova-pro-v1:0"
    assert (price.input_per_token, price.output_per_token) == (
        entry["input_cost_per_token"], entry["output_cost_per_token"])
    assert price.cost(1000, 200) == pytest.approx(1000 * entry["input_cost_per_token"]
                                                  + 200 * entry["output_cost_per_token"])


@pytest.mark.parametrize("model", ["bedrock/us.amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0",
                                   "bedrock/converse/us.amazon.nova-pro-v1:0"])
def test_a_us_cross_region_profile_prices_like_its_base_model(model: str) -> None:
    base = pricing.price_of("amazon.nova-pro-v1:0")
    price = pricing.price_of(model)
    assert base is not None and price is not None
    assert (price.input_per_token, price.output_per_token) == (base.input_per_token, base.output_per_token)


def test_a_profile_the_map_does_not_list_prices_as_its_base_model() -> None:
    assert "jp.amazon.nova-pro-v1:0" not in _bundled()
    price = pricing.price_of("bedrock/jp.amazon.nova-pro-v1:0")
    assert price is not None and price.entry == "amazon.nova-pro-v1:0"


def test_an_unknown_model_has_no_price_and_warns_once(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="agentcreator.telemetry.pricing"):
        assert pricing.price_of("bedrock/no-such.model-v9:0") is None
        assert pricing.price_of("bedrock/no-such.model-v9:0") is None
    warnings = [r for r in caplog.records if "no-such.model-v9:0" in r.getMessage()]
    assert len(warnings) == 1


def test_the_bundled_map_is_read_without_importing_litellm() -> None:
    # A fresh interpreter: in this one another test may have imported LiteLLM already.
    probe = "import sys; from agentcreator.telemetry import pricing; " \
            "print(pricing.price_of('amazon.nova-pro-v1:0') is not None, 'litellm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.stdout.split() == ["True", "False"], done.stderr[-2000:]


def test_without_the_bundled_file_prices_come_from_litellm_model_cost(monkeypatch, caplog) -> None:
    """The file's name is LiteLLM's, not an API: if it moves, its public ``model_cost`` answers."""
    monkeypatch.setattr(pricing, "BUNDLED_MAP", "no-such-file.json")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with caplog.at_level(logging.WARNING, logger="agentcreator.telemetry.pricing"):
        price = pricing.price_of("bedrock/us.amazon.nova-pro-v1:0")
    assert price is not None and price.input_per_token > 0
    assert any("litellm.model_cost" in r.getMessage() for r in caplog.records)


def test_offline_price_as_option() -> None:
    assert parse_offline_model("offline").price_as == "amazon.nova-pro-v1:0"
    assert parse_offline_model("offline:price_as=us.amazon.nova-lite-v1:0").price_as == "us.amazon.nova-lite-v1:0"
    assert parse_offline_model("offline:price_as=none").price_as is None
    with pytest.raises(ConfigError, match="price_as"):
        parse_offline_model("offline:price_as=")


def test_an_unpriced_model_leaves_spans_and_result_without_cost(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="agentcreator.telemetry.pricing"):
        run = run_pipeline("offline:price_as=no-such-model")
    assert run.error is None
    llm = [s for s in run.spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert llm and not any("gen_ai.usage.cost" in s.attributes for s in llm)
    root = next(s for s in run.spans if s.parent is None)
    assert "agentcreator.usage.cost_usd" not in root.attributes
    assert run.result.usage["cost_usd"] is None and run.result.usage["total_tokens"] > 0
    assert len([r for r in caplog.records if "no-such-model" in r.getMessage()]) == 1
