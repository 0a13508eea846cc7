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


def test_warm_up_freezes_what_the_imports_made() -> None:
    import gc

    from agentcreator.config import load_settings
    from agentcreator.runtime.warmup import _warm

    gc.unfreeze()
    try:
        _warm(load_settings({"AGENTCREATOR_LM": "offline"}))
        assert gc.get_freeze_count() > 50_000  # DSPy, pydantic, LiteLLM: out of every full collection
        from agentcreator.tools import code_interpreter

        assert code_interpreter._zygote.pid is not None  # the sandbox's interpreter is up before any run
    finally:
        gc.unfreeze()


def test_what_the_first_invocation_built_is_frozen_once() -> None:
    import gc

    from agentcreator.runtime import warmup

    gc.unfreeze()
    warmup._settled.clear()
    try:
        warmup.settle_after_first_invocation()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        later = [[index] for index in range(1000)]  # objects of later invocations stay collectable
        warmup.settle_after_first_invocation()
        assert gc.get_freeze_count() == frozen and later
    finally:
        gc.unfreeze()
