"""What ``agentcreator serve`` runs on: uvicorn with its C HTTP parser and event loop."""

from __future__ import annotations

import uvicorn


async def _app(scope, receive, send) -> None:  # never called: only the configuration is loaded
    raise AssertionError


def test_uvicorn_finds_httptools_and_uvloop() -> None:
    # serve leaves http and loop on "auto": the pinned httptools and uvloop must be what it picks,
    # or the parsing of every request and the loop run in Python, under the GIL the pipeline needs.
    config = uvicorn.Config(_app, ws="none", lifespan="off")
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
