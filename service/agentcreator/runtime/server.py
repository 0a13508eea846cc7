"""The HTTP runtime's server: uvicorn, with a shutdown that fits ECS's stop timeout.

On SIGTERM (or Ctrl-C) uvicorn stops accepting and gives in-flight invocations up to
``AGENTCREATOR_SHUTDOWN_GRACE_S``; then the tracer provider is flushed and shut down within
what is left of ECS's 30 s stop timeout, and the process exits 0. A bad environment variable
is one line on stderr and exit code 2, before anything listens. With ``--workers N`` (N > 1)
``supervisor`` binds the port and runs N of these servers on it, each started with the hidden
``--listen-fd``. The command line is ``agentcreator.commands.serve``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    import socket

# ECS's default stopTimeout: SIGKILL follows SIGTERM after this long.
STOP_TIMEOUT_S = 30.0
_MIN_FLUSH_S = 1.0
_MARGIN_S = 0.5
_log = logging.getLogger(__name__)


def _server_class() -> type:
    import signal
    import threading
    from contextlib import contextmanager

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn, minus re-raising the captured SIGTERM once it has drained: that would kill the
        process (exit 143) before the spans are flushed. Remembers when the signal came."""

        signalled_at: float | None = None

        def handle_exit(self, sig: int, frame: object) -> None:
            if self.signalled_at is None:
                self.signalled_at = time.monotonic()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

        @contextmanager
        def capture_signals(self):  # type: ignore[override]
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

        def flush_budget(self) -> float:
            """Seconds left for the final export before ECS's SIGKILL."""
            if self.signalled_at is None:
                return STOP_TIMEOUT_S - self.config.timeout_graceful_shutdown
            left = STOP_TIMEOUT_S - _MARGIN_S - (time.monotonic() - self.signalled_at)
            return max(_MIN_FLUSH_S, left)

    return GracefulServer


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before anything imports LiteLLM
    from agentcreator.config import ConfigError, load_settings
    from agentcreator.pipeline.lm import validate_model

    try:
        settings = load_settings(**({} if args.workers is None else {"workers": args.workers}))
        validate_model(settings.lm)
    except ConfigError as error:
        print(f"agentcreator serve: error: {error}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sockets = None
    if args.listen_fd is not None:
        sockets = [_inherited_socket(args.listen_fd, args.supervisor_pid)]
    elif settings.workers > 1:
        from agentcreator.runtime import supervisor

        return supervisor.run(args, settings.workers, settings.shutdown_grace_s)

    import uvicorn

    from agentcreator import telemetry
    from agentcreator.runtime.app import create_app
    from agentcreator.runtime.drop_report import describe

    telemetry.configure_tracing(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]
    )
    server = _server_class()(config)
    try:
        server.run(sockets)  # given sockets, uvicorn logs no "running on" line: the supervisor did
    finally:
        budget = server.flush_budget()
        if not telemetry.shutdown(budget):
            _log.warning("spans still queued after %.1f s were dropped", budget)
        dropped = telemetry.dropped_spans_by_reason()
        if any(dropped.values()):
            _log.warning("spans dropped since start: %s", describe(dropped))
    abandoned = app.state.runtime.workers_running
    if abandoned:
        # Their requests were cancelled at the end of the grace period; the pool's threads would
        # otherwise hold the interpreter open until they finish, past ECS's SIGKILL.
        _log.warning("exiting with %d invocation(s) cut off by the shutdown grace period", abandoned)
        logging.shutdown()
        os._exit(0)
    return 0


def _inherited_socket(fd: int, supervisor: int | None = None) -> socket.socket:
    """This worker's listening socket, bound by the supervisor, and a watch that drains the worker
    if the supervisor dies. The supervisor names itself: a worker still starting when it died has
    already been reparented, and its own parent then would be the reaper, which never goes.

    ``socket(fileno=...)`` detects the family: uvicorn's own ``Config(fd=...)`` labels the socket
    AF_UNIX, and asyncio then leaves TCP_NODELAY off every accepted connection.
    """
    import signal
    import socket
    import threading

    parent = os.getppid() if supervisor is None else supervisor

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        _log.warning("supervisor %d is gone; shutting down", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
    return socket.socket(fileno=fd)
