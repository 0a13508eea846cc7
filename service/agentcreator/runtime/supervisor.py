"""``agentcreator serve --workers N``: N server processes behind one port, one shutdown.

The supervisor binds the port (a socket per worker, see ``_listen``), announces it once, and
starts N workers (``python -m agentcreator.cli serve --listen-fd FD``), each the single-process
server with its own tracer provider, drain and bounded span flush. A worker that dies is
restarted after a short backoff on the same socket; workers that keep dying right after start
stop everything (exit 1). On SIGTERM or SIGINT every worker gets SIGTERM and the supervisor
waits for them within ECS's stop timeout: exit 0 if each exited 0, 1 if one failed or was killed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcreator.runtime.server import STOP_TIMEOUT_S

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

_log = logging.getLogger(__name__)
_POLL_S = 0.05
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)  # before a slot's 1st, 2nd, 3rd, 4th+ restart in a row after early deaths
_EARLY_S = 10.0  # a worker dying this soon after its start counts towards a crash loop
_CRASH_LOOP = 5  # early deaths within _CRASH_WINDOW_S that stop everything
_CRASH_WINDOW_S = 60.0
_KILL_MARGIN_S = 0.2  # SIGKILL stragglers just before ECS would kill the whole task
_BACKLOG = 2048  # uvicorn's default


@dataclass
class _Slot:
    number: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    early_deaths: int = 0  # in a row


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Keeps ``count`` copies of ``command`` running until a signal, then stops them in time."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        listeners: Sequence[socket.socket] = (),
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self._stop_timeout_s = stop_timeout_s
        self._command = list(command)
        self._listeners = list(listeners)  # one per worker, each told its fd with --listen-fd
        self._slots = [_Slot(number) for number in range(1, count + 1)]
        self._early: deque[float] = deque()
        self._signalled_at: float | None = None

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._signalled_at is None:
            self._signalled_at = time.monotonic()

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT or a crash loop; the exit code."""
        originals = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self._slots:
                self._start(slot)
            failure = self._watch()
            return self._stop(failure)
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _start(self, slot: _Slot) -> None:
        # Its own process group: a terminal's Ctrl-C reaches only the supervisor, which passes on
        # SIGTERM; a worker that got both could read the second as uvicorn's "force exit".
        command, fds = self._command, ()
        if self._listeners:
            fds = (self._listeners[slot.number - 1].fileno(),)
            command = [*command, "--listen-fd", str(fds[0]), "--supervisor-pid", str(os.getpid())]
        # Each worker knows how many there are: they share the task's span queue (config.py).
        env = os.environ | {"AGENTCREATOR_WORKERS": str(len(self._slots))}
        if slot.number > 1:  # one canary per task, not one per worker
            env["AGENTCREATOR_CANARY_INTERVAL_S"] = "0"
        slot.proc = subprocess.Popen(command, pass_fds=fds, process_group=0, env=env)
        slot.started_at = time.monotonic()
        _log.info("worker %d started (pid %d)", slot.number, slot.proc.pid)

    def _watch(self) -> str | None:
        """Restart dead workers until a signal (None) or a crash loop (its one-line description)."""
        while self._signalled_at is None:
            now = time.monotonic()
            for slot in self._slots:
                if slot.proc is not None and (code := slot.proc.poll()) is not None:
                    if failure := self._on_death(slot, code, now):
                        return failure
                if slot.proc is None and now >= slot.restart_at and self._signalled_at is None:
                    self._start(slot)
            time.sleep(_POLL_S)
        return None

    def _on_death(self, slot: _Slot, code: int, now: float) -> str | None:
        assert slot.proc is not None
        pid, lived = slot.proc.pid, now - slot.started_at
        slot.proc = None
        if lived < _EARLY_S:
            slot.early_deaths += 1
            self._early.append(now)
        else:
            slot.early_deaths = 0
        while self._early and now - self._early[0] > _CRASH_WINDOW_S:
            self._early.popleft()
        if len(self._early) >= _CRASH_LOOP:
            return (
                f"workers keep exiting right after start ({len(self._early)} times within "
                f"{_CRASH_WINDOW_S:.0f} s, the last with {_describe(code)}); stopping"
            )
        delay = _BACKOFF_S[min(max(slot.early_deaths, 1), len(_BACKOFF_S)) - 1]
        slot.restart_at = now + delay
        how = f"{_describe(code)} after {lived:.1f} s"
        _log.warning("worker %d (pid %d) exited with %s; restarting it in %.1f s", slot.number, pid, how, delay)
        return None

    def _stop(self, failure: str | None) -> int:
        """SIGTERM every worker, wait until ECS's deadline less a margin, SIGKILL what is left."""
        deadline = (self._signalled_at or time.monotonic()) + self._stop_timeout_s - _KILL_MARGIN_S
        for listener in self._listeners:
            listener.close()  # once the workers close theirs too, the port refuses connections
        running = [slot for slot in self._slots if slot.proc is not None]
        for slot in running:
            slot.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        ok = True
        while running and time.monotonic() < deadline:
            for slot in list(running):
                code = slot.proc.poll()  # type: ignore[union-attr]
                if code is None:
                    continue
                running.remove(slot)
                # -SIGTERM: the worker was still starting (no handlers yet), so it had nothing to drain.
                if code not in (0, -signal.SIGTERM):
                    ok = False
                    _log.error("worker %d exited with %s while stopping", slot.number, _describe(code))
            time.sleep(_POLL_S)
        for slot in running:
            assert slot.proc is not None
            slot.proc.kill()
            slot.proc.wait()
            ok = False
            _log.error("worker %d (pid %d) still ran at the stop deadline; killed it", slot.number, slot.proc.pid)
        if ok and failure is None:
            _log.info("every worker stopped cleanly")
        if failure is not None:
            print(f"agentcreator serve: error: {failure}", file=sys.stderr)
            return 1
        return 0 if ok else 1


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets on one port (SO_REUSEPORT), one per worker: the kernel spreads new
    connections evenly over them, where workers sharing one socket took a burst of 64 as unevenly
    as 7 and 57. A plain bind first, so a port someone holds fails as it does without workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as probe:
        port = probe.getsockname()[1]
    listeners: list[socket.socket] = []
    try:
        for _ in range(count):
            listeners.append(socket.create_server((host, port), family=family, backlog=_BACKLOG, reuse_port=True))
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def run(args: argparse.Namespace, count: int, grace_s: float) -> int:
    """``agentcreator serve`` with ``count`` > 1 workers; the settings were validated by the caller."""
    try:
        listeners = _listen(args.host, args.port, count)
    except OSError as error:
        reason = error.strerror or error
        print(f"agentcreator serve: error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    try:
        port = listeners[0].getsockname()[1]
        address = f"[{args.host}]" if ":" in args.host else args.host
        # The line uvicorn prints (and tests/support/runtime_server.py reads), once, with the real port.
        _log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit), %d workers", address, port, count)
        serve = [sys.executable, "-m", "agentcreator.cli", "serve", "--log-level", args.log_level]
        # ECS's default stop timeout, or the longer one our CDK sets for a longer grace (grace + 5 s)
        stop_timeout_s = max(STOP_TIMEOUT_S, grace_s + 5)
        command = [*serve, "--host", args.host, "--port", str(port)]
        return Supervisor(command, count, listeners, stop_timeout_s).run()
    finally:
        for listener in listeners:
            listener.close()
