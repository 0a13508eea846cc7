"""The Starlette app: ``POST /invocations`` and ``GET /ping``, the Bedrock AgentCore Runtime contract.

The pipeline is blocking, so each invocation runs in a thread pool sized to the concurrency
limit, with the caller's W3C trace context (never its baggage) passed as the root's parent and
the contextvars copied into the worker. Over the limit a request is refused at once (503 with
``Retry-After``) instead of queueing behind work that may take minutes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentcreator import telemetry
from agentcreator.pipeline import InvocationError, run_invocation
from agentcreator.runtime.body import read_json
from agentcreator.runtime.drop_report import report_dropped_spans
from agentcreator.runtime.payload import parse_payload
from agentcreator.runtime.problems import Problem
from agentcreator.runtime.warmup import settle_after_first_invocation, start_warmup
from agentcreator.tools.code_interpreter import last_isolation

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request

    from agentcreator.canary import CanarySchedule
    from agentcreator.config import Settings
    from agentcreator.pipeline import InvocationRequest, InvocationResult

_log = logging.getLogger(__name__)
_TRACE_CONTEXT = TraceContextTextMapPropagator()  # traceparent/tracestate only: baggage is not trusted
RETRY_AFTER_S = 1


class Runtime:
    """Per-app state: the concurrency gate, the worker pool, and how many workers still run."""

    def __init__(self, settings: Settings, *, warm: bool = True) -> None:
        self.settings = settings
        self.limit = settings.max_concurrency
        self.in_flight = 0  # touched only on the event loop
        self.status_changed_at = time.time()
        self.executor: ThreadPoolExecutor | None = None
        self._warm = warm
        self._running = 0  # touched by worker threads
        self._running_lock = threading.Lock()
        self._canary: CanarySchedule | None = None

    @property
    def busy(self) -> bool:
        return self.in_flight >= self.limit

    @property
    def workers_running(self) -> int:
        """Pipelines still executing; after a cut-off grace period they may outlive their request."""
        return self._running

    def start(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="invocation")
        if self._warm:
            start_warmup(self.settings)
        if self.settings.canary_interval_s > 0:
            from agentcreator.canary import CanarySchedule

            self._canary = CanarySchedule(self.settings, self.settings.canary_interval_s)
            self._canary.start()

    def stop(self) -> None:
        if self._canary is not None:
            self._canary.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    def _enter(self) -> None:
        was_busy = self.busy
        self.in_flight += 1
        if self.busy != was_busy:
            self.status_changed_at = time.time()

    def _leave(self) -> None:
        was_busy = self.busy
        self.in_flight -= 1
        if self.busy != was_busy:
            self.status_changed_at = time.time()

    def _work(self, request: InvocationRequest, parent: Context) -> InvocationResult:
        with self._running_lock:
            self._running += 1
        try:
            result = run_invocation(request, self.settings, parent=parent)
        finally:
            with self._running_lock:
                self._running -= 1
        if self._warm:
            settle_after_first_invocation()
        return result

    async def invoke(self, request: InvocationRequest, parent: Context) -> InvocationResult:
        """Run one invocation in the pool, or 503 when every slot is taken."""
        if self.busy or self.executor is None:
            raise Problem(
                503,
                "busy",
                f"{self.limit} invocations are already running; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._enter()
        try:
            loop = asyncio.get_running_loop()
            worker_context = contextvars.copy_context()
            return await loop.run_in_executor(self.executor, worker_context.run, self._work, request, parent)
        except asyncio.CancelledError:
            # Only uvicorn cancels us: the shutdown grace period ran out. Say so, so the caller retries.
            raise Problem(
                503,
                "shutting_down",
                "the server stopped before this invocation finished; retry",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        finally:
            self._leave()


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _invocations(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    invocation = parse_payload(await read_json(request), runtime.settings)
    parent = _TRACE_CONTEXT.extract(request.headers, context=Context())
    try:
        result = await runtime.invoke(invocation, parent)
    except InvocationError as error:
        _log.warning(
            "invocation failed: error_id=%s trace_id=%s stage=%s: %s",
            error.error_id,
            error.trace_id,
            error.stage,
            error,
        )
        raise Problem(
            502,
            "pipeline_failed",
            "the pipeline failed; look the trace up by its trace_id",
            error_id=error.error_id,
            trace_id=error.trace_id,
            stage=error.stage,
        ) from None
    return JSONResponse(result.to_dict(), headers={"traceparent": result.traceparent})


async def _ping(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    return JSONResponse(
        {
            "status": "HealthyBusy" if runtime.busy else "Healthy",
            "time_of_last_update": int(runtime.status_changed_at),
            "in_flight": runtime.in_flight,
            "dropped_spans": telemetry.dropped_span_count(),
            "pid": os.getpid(),  # which process answered, with `serve --workers N`
            # The code interpreter's isolation layers, known once the warm-up has started it.
            "sandbox": last_isolation() or {"layers": [], "starting": True},
        }
    )


async def _on_problem(request: Request, problem: Exception) -> JSONResponse:
    assert isinstance(problem, Problem)
    return JSONResponse(problem.body, status_code=problem.status, headers=problem.headers)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return JSONResponse({"error": code, "detail": error.detail}, status_code=error.status_code, headers=error.headers)


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    _log.error("unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=error)
    return JSONResponse(
        {"error": "internal_error", "detail": "an unexpected error; quote the error_id", "error_id": error_id},
        status_code=500,
    )


def create_app(settings: Settings, *, warm: bool = True) -> Starlette:
    """The ASGI app. Tracing is configured by the caller (``agentcreator serve``), not here."""
    runtime = Runtime(settings, warm=warm)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        drops = asyncio.create_task(report_dropped_spans(settings.shown_traces_endpoint))
        try:
            yield
        finally:
            drops.cancel()
            runtime.stop()

    app = Starlette(
        debug=False,
        routes=[Route("/invocations", _invocations, methods=["POST"]), Route("/ping", _ping, methods=["GET"])],
        exception_handlers={Problem: _on_problem, HTTPException: _on_http_error, Exception: _on_unexpected},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
