"""Ending a child process: SIGTERM first, SIGKILL for one that ignores it."""

from __future__ import annotations

import signal
import subprocess
import sys

from agentcreator.processes import stop_process

_SLEEPER = "import signal, time\n{setup}\nprint('ready', flush=True)\ntime.sleep(60)\n"


def _sleeper(setup: str = "") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _SLEEPER.format(setup=setup)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # its handlers are in place
    return proc


def test_a_process_that_stops_on_sigterm_gets_only_sigterm() -> None:
    proc = _sleeper()
    stop_process(proc, 10)
    assert proc.returncode == -signal.SIGTERM


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    proc = _sleeper("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    stop_process(proc, 0.2, kill_wait_s=10)
    assert proc.returncode == -signal.SIGKILL


def test_an_ended_process_is_left_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    stop_process(proc, 0.1)
    assert proc.returncode == 0
