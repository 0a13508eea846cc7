"""Run ``agentcreator serve`` as a real subprocess on 127.0.0.1 with an ephemeral port.

    with RuntimeServer({"AGENTCREATOR_LM": "offline", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}) as server:
        httpx.post(server.url + "/invocations", json={...})
        server.terminate()            # SIGTERM; server.wait() returns the exit code

The port is read back from uvicorn's start-up line (``--port 0``), so there is no race for it;
the environment is the caller's minus every OTel/AgentCreator/Langfuse variable, plus ``env``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from agentcreator.processes import stop_process

if TYPE_CHECKING:
    from collections.abc import Sequence

_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
_DROPPED_PREFIXES = ("OTEL_", "AGENTCREATOR_", "LANGFUSE_")


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k != "ENVIRONMENT"}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class RuntimeServer:
    """One server process; ``ping_after_s`` is how long after launch /ping first answered."""

    def __init__(self, env: dict[str, str], *, start_timeout: float = 15.0, args: Sequence[str] = ()) -> None:
        self._env = clean_environment(env)
        self._args = list(args)  # appended to ``serve``'s command line, e.g. ["--workers", "2"]
        self._start_timeout = start_timeout
        self._log = Path(tempfile.mkstemp(prefix="agentcreator-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.ping_after_s: float | None = None

    def start(self) -> RuntimeServer:
        started = time.monotonic()
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentcreator.cli", "serve", "--host", "127.0.0.1", "--port", "0", *self._args],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = started + self._start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agentcreator serve exited with {self.proc.returncode}:\n{self.log()}")
            if not self.url and (match := _LISTENING.search(self.log())):
                self.url = f"http://127.0.0.1:{match.group(1)}"
            if self.url:
                try:
                    if httpx.get(self.url + "/ping", timeout=1).status_code == 200:
                        self.ping_after_s = time.monotonic() - started
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"agentcreator serve did not answer /ping within {self._start_timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self._log.read_text(errors="replace")

    def ping(self) -> dict:
        return httpx.get(self.url + "/ping", timeout=5).json()

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 35.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: for tests that need not wait out a bounded but long final flush."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.proc is not None:
            stop_process(self.proc, 10)

    def __enter__(self) -> RuntimeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)
