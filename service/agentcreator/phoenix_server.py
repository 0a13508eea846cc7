"""A local Arize Phoenix as a child process: started on 127.0.0.1, polled until ready, stopped on exit.

Used by ``agentcreator demo``, the screenshot script and the Phoenix integration test, so all
three start Phoenix the same way. Phoenix is never imported here (the container has none): it
runs as ``python -m agentcreator.phoenix_server``, which switches off what must stay off and
then hands over to Phoenix's own ``serve`` command.

    with PhoenixServer(working_dir) as phoenix:          # starts and waits (~16 s, ~470 MB)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = phoenix.url   # OTLP/HTTP shares the UI's port
        ...
        spans = phoenix.spans(PROJECT, trace_id=trace_id)
        print(phoenix.trace_url(PROJECT, trace_id))
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import urlopen

from agentcreator.processes import stop_process

if TYPE_CHECKING:
    from collections.abc import Callable

HOST = "127.0.0.1"
# Phoenix makes no request of its own to the internet with these, and needs none to start.
_OFFLINE_ENV = {
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_LOG_MIGRATIONS": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "PYTHONUNBUFFERED": "1",
}
# Our own telemetry settings must not leak into Phoenix (it reads OTEL_* for its own tracing).
_DROPPED_PREFIXES = ("OTEL_", "PHOENIX_", "LANGFUSE_", "AGENTCREATOR_")


class PhoenixError(RuntimeError):
    """Phoenix is missing, did not start in time, or its API answered something unexpected."""


def phoenix_installed() -> bool:
    """True when the ``arize-phoenix`` package is importable, without importing it (it is slow)."""
    return importlib.util.find_spec("phoenix") is not None


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago: the kernel's pick for port 0."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PhoenixServer:
    """One Phoenix process bound to 127.0.0.1; its SQLite data lives in ``working_dir``."""

    def __init__(self, working_dir: Path, *, port: int | None = None, start_timeout_s: float = 180.0) -> None:
        self.working_dir = Path(working_dir)
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_after_s: float | None = None
        self.log_path = self.working_dir / "phoenix.log"

    @property
    def url(self) -> str:
        """The UI, the REST API and the OTLP/HTTP receiver (``/v1/traces``) share this base URL."""
        return f"http://{HOST}:{self.port}"

    def start(self, on_wait: Callable[[float], None] | None = None) -> PhoenixServer:
        """Launch Phoenix and block until ``/healthz`` answers; ``on_wait(elapsed_s)`` is called while waiting."""
        if not phoenix_installed():
            raise PhoenixError("Arize Phoenix is not installed: it is in the `local` dependency group "
                               "(make install puts it into .venv)")
        self.working_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
        env.update(_OFFLINE_ENV)
        env.update({
            "PHOENIX_HOST": HOST,
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(self.working_dir),
        })
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentcreator.phoenix_server"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, and we stop Phoenix in order
            )
        try:
            while True:
                elapsed = time.monotonic() - started
                if self.proc.poll() is not None:
                    raise PhoenixError(f"Phoenix exited with code {self.proc.returncode} while starting; "
                                       f"last lines of {self.log_path}:\n{self.log_tail()}")
                if self._healthy():
                    self.started_after_s = elapsed
                    return self
                if elapsed > self.start_timeout_s:
                    raise PhoenixError(f"Phoenix did not answer {self.url}/healthz within "
                                       f"{self.start_timeout_s:.0f} s; last lines of {self.log_path}:\n"
                                       f"{self.log_tail()}")
                if on_wait is not None:
                    on_wait(elapsed)
                time.sleep(0.25)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        try:
            with urlopen(self.url + "/healthz", timeout=1) as response:  # noqa: S310 - loopback only
                return response.status == 200
        except (URLError, OSError):
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (uvicorn's graceful stop), then SIGKILL if it lingers; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, timeout_s, kill_wait_s=5)

    def rss_mb(self) -> float | None:
        """Resident memory of the Phoenix process (Linux), for the figures the README quotes."""
        if self.proc is None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # REST API (phoenix/server/api/routers/v1): projects by name, spans filtered and paged.

    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        url = self.url + path + ("?" + urlencode(query) if query else "")
        try:
            with urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
                return json.load(response)
        except HTTPError as error:
            raise PhoenixError(f"GET {path} answered {error.code}: {error.read()[:200]!r}") from None

    def project_id(self, project: str) -> str | None:
        """Phoenix's id for a project name (a GraphQL global id), or None before its first span."""
        try:
            return self._get(f"/v1/projects/{quote(project, safe='')}")["data"]["id"]
        except PhoenixError as error:
            if " 404:" in str(error):
                return None
            raise

    def spans(self, project: str, *, trace_id: str | None = None, span_kind: str | None = None,
              attribute: str | None = None) -> list[dict[str, Any]]:
        """Every span of ``project`` matching the filters, following ``next_cursor`` across pages.

        Each span: ``name``, ``context.trace_id``/``span_id``, ``parent_id``, ``span_kind``
        (taken from ``openinference.span.kind``), ``status_code``, ``attributes`` (flattened).
        """
        query = [("limit", "1000")]
        query += [("trace_id", trace_id)] if trace_id else []
        query += [("span_kind", span_kind)] if span_kind else []
        query += [("attribute", attribute)] if attribute else []
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            try:
                page = self._get(f"/v1/projects/{quote(project, safe='')}/spans",
                                 query + ([("cursor", cursor)] if cursor else []))
            except PhoenixError as error:
                if " 404:" in str(error):  # the project exists once its first span is stored
                    return []
                raise
            found.extend(page.get("data", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def wait_for_spans(self, project: str, trace_id: str, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll until ``count`` spans of the trace are stored (Phoenix inserts in batches) or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            spans = self.spans(project, trace_id=trace_id)
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.25)

    def trace_url(self, project: str, trace_id: str) -> str:
        """The trace's page in Phoenix's UI (route ``/projects/:projectId/traces/:traceId``)."""
        project_id = self.project_id(project)
        if project_id is None:
            return f"{self.url}/projects"
        return f"{self.url}/projects/{quote(project_id, safe='')}/traces/{trace_id}"

    def __enter__(self) -> PhoenixServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _serve() -> None:
    """Phoenix's ``serve``, with its OTLP/gRPC receiver switched off.

    Phoenix binds gRPC to every interface (``[::]``) whatever ``PHOENIX_HOST`` says, and we
    export over HTTP only; disabling it keeps the local Phoenix on 127.0.0.1 alone.
    """
    from phoenix.server import grpc_server
    from phoenix.server.main import main

    original_init = grpc_server.GrpcServer.__init__

    def init_disabled(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disabled"] = True
        original_init(self, *args, **kwargs)

    grpc_server.GrpcServer.__init__ = init_disabled  # type: ignore[method-assign]
    sys.argv = ["phoenix", "serve"]
    main()


if __name__ == "__main__":
    _serve()
