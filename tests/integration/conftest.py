"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.support.bedrock_server import BedrockConverseServer, fake_aws_environment


@pytest.fixture
def bedrock_region() -> str:
    """The region the fake AWS environment names; a module overrides it to prove it is honoured."""
    return "us-east-1"


@pytest.fixture
def bedrock(monkeypatch, bedrock_region):
    """The local Converse server, reached the AWS way (AWS_ENDPOINT_URL_BEDROCK_RUNTIME), with fake credentials."""
    for name, value in fake_aws_environment(bedrock_region).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with BedrockConverseServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.endpoint)
        yield server
