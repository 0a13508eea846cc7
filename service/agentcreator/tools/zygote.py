"""Runs sandbox jobs in children forked from one pre-started clean interpreter, the zygote.

Starting ``python -I`` costs about 14 ms of CPU per run; forking an interpreter that has already
started costs about 2 ms. One zygote per application process, started on first use and
again after it dies. Invocations run code concurrently, so requests carry ids and one reader
thread hands each reply to its run. ``run`` raises ``ZygoteUnavailable`` when the zygote cannot be
used; the caller then starts the interpreter itself. The zygote's own side is ``_zygote_main.py``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# The zygote's own script runs on the standard library alone; importing it here defines only
# its functions, and gives both sides one way to kill a run.
from agentcreator.tools._zygote_main import _kill_group

_READY_TIMEOUT_S = 10.0
# After a failed start, runs skip the zygote for this long rather than each paying for a new try.
_RETRY_START_AFTER_S = 5.0
# How long a killed run may take to be reported before the zygote itself is taken for broken.
_KILL_GRACE_S = 5.0


class ZygoteUnavailable(RuntimeError):
    """The zygote could not run the job, and nothing of the job is left running."""


@dataclass(frozen=True)
class Job:
    """One run: absolute paths, the child's whole environment, its RLIMIT_AS, _CPU and _FSIZE, and
    whether Landlock is applied where the kernel has it."""

    workdir: str
    script: str
    stdout: str
    stderr: str
    env: dict[str, str]
    limits: tuple[int, int, int]
    landlock: bool = True

    def request(self) -> dict:
        """The job as the zygote's script reads it (``_zygote_main.py``)."""
        return {
            "cwd": self.workdir,
            "script": self.script,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "env": self.env,
            "limits": list(self.limits),
            "landlock": self.landlock,
        }


def zygote_command(executable: str) -> list[str]:
    """How to start the zygote's script; ``--once <request>`` appended runs one job in it instead.

    Its first argument is where it imports ``_confine`` and the libseccomp bindings from: the ones
    this process resolves, since ``python -I`` reads no PYTHONPATH."""
    source = Path(__file__).with_name("_zygote_main.py").read_text(encoding="utf-8")
    return [executable, "-I", "-B", "-c", source, os.pathsep.join(_import_directories())]


def _import_directories() -> list[str]:
    directories = [str(Path(__file__).parent)]
    if (spec := importlib.util.find_spec("pyseccomp")) is not None and spec.origin:
        directories.append(str(Path(spec.origin).parent))
    return directories


class _Run:
    __slots__ = ("done", "pid", "status")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.pid: int | None = None
        self.status: int | None = None


class _Process:
    """One started zygote: its pipes, the runs it has yet to answer, and the thread reading replies."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.owner = os.getpid()
        self._popen = subprocess.Popen(  # noqa: S603 - fixed argv
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,  # a Ctrl-C meant for the application does not reach it
        )
        self.pid = self._popen.pid
        self.alive = True
        self.isolation: list[str] | dict[str, str] = {"refused": "the zygote has not started"}
        self._lock = threading.Lock()  # guards alive and _runs; never held while doing I/O
        self._write_lock = threading.Lock()
        self._runs: dict[int, _Run] = {}
        self._ids = itertools.count()
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="sandbox-zygote", daemon=True)
        self._reader.start()
        if not self._ready.wait(_READY_TIMEOUT_S) or not self.alive:
            self.close(kill=True)
            raise ZygoteUnavailable("the zygote did not start")

    def run(self, job: Job, timeout_s: float) -> tuple[int, bool]:
        run = _Run()
        with self._lock:
            if not self.alive:
                raise ZygoteUnavailable("the zygote has exited")
            run_id = next(self._ids)
            self._runs[run_id] = run
        self._send({"id": run_id, **job.request()})
        try:
            finished = run.done.wait(timeout_s)
        except BaseException:
            self._send({"id": run_id, "kill": True})
            raise
        if finished:
            if run.status is None:
                raise ZygoteUnavailable("the zygote exited before the run ended")
            return run.status, False
        # The zygote kills the group: only it knows whether the pid is still this run's.
        self._send({"id": run_id, "kill": True})
        if not run.done.wait(_KILL_GRACE_S):
            self.close(kill=True)  # then the reader kills the run's group itself
            run.done.wait()
        return (-signal.SIGKILL if run.status is None else run.status), True

    def close(self, *, kill: bool = False) -> None:
        """End the zygote (at EOF it kills its runs) and wait until it has been reaped."""
        if kill:
            self._popen.kill()
        self._close_stdin()
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def _close_stdin(self) -> None:
        with self._write_lock:
            try:
                self._popen.stdin.close()
            except OSError:  # what was left to flush has nowhere to go
                pass

    def _send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            with self._write_lock:
                self._popen.stdin.write(data)
                self._popen.stdin.flush()
        except (OSError, ValueError):  # it has died, or was closed: the reader fails the runs
            self._popen.kill()

    def _read(self) -> None:
        try:
            for line in self._popen.stdout:
                message = json.loads(line)
                if "ready" in message:
                    self.isolation = message["isolation"]
                    self._ready.set()
                    continue
                with self._lock:
                    run = self._runs.get(message["id"]) if "pid" in message else self._runs.pop(message["id"], None)
                if run is None:
                    continue
                if "pid" in message:
                    run.pid = message["pid"]
                else:
                    run.status = message.get("status")  # None after {"error"}: the fork failed
                    run.done.set()
        except (OSError, ValueError, KeyError):
            pass
        finally:
            self._died()

    def _died(self) -> None:
        with self._lock:
            self.alive = False
            runs, self._runs = self._runs, {}
        self._popen.kill()  # in case it only closed its stdout
        self._popen.wait()
        self._popen.stdout.close()
        self._close_stdin()
        for run in runs.values():
            if run.pid is not None:  # orphaned by the zygote's death: nobody else will stop it
                _kill_group(run.pid)
            run.done.set()
        self._ready.set()


class Zygote:
    """The zygote of one application process; ``env`` is the zygote's whole environment."""

    def __init__(self, env: dict[str, str], *, executable: str = sys.executable) -> None:
        self._env = dict(env)
        self._executable = executable
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._retry_at = 0.0

    @property
    def pid(self) -> int | None:
        """The running zygote's process id, if one runs."""
        process = self._process
        return process.pid if process is not None and process.alive else None

    def isolation(self) -> list[str] | dict[str, str]:
        """The layers the zygote's children get (a list), or ``{"refused": reason}``; starts it if need be."""
        return self._started().isolation

    def run(self, job: Job, timeout_s: float) -> tuple[int, bool]:
        """Run ``job`` in a forked child: its ``Popen.returncode`` and whether it ran out of time."""
        return self._started().run(job, timeout_s)

    def start(self) -> bool:
        """Start it now rather than on the first run (a server's warm-up); whether it runs."""
        try:
            self._started()
        except ZygoteUnavailable:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.owner == os.getpid():
            process.close()

    def _started(self) -> _Process:
        with self._lock:
            process = self._process
            if process is not None and process.alive and process.owner == os.getpid():
                return process
            self._process = None  # dead (its reader has reaped it), or inherited through a fork
            if time.monotonic() < self._retry_at:
                raise ZygoteUnavailable("the zygote failed to start a moment ago")
            try:
                self._process = _Process(zygote_command(self._executable), self._env)
            except (OSError, ZygoteUnavailable) as error:
                self._retry_at = time.monotonic() + _RETRY_START_AFTER_S
                raise ZygoteUnavailable(f"the zygote could not start: {error}") from error
            return self._process
