"""Ending a child process the way every long-lived one here is ended: SIGTERM, its graceful stop,
then SIGKILL if it lingers (Phoenix for the demo; the servers and collectors the tests start)."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen, grace_s: float, *, kill_wait_s: float | None = None) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL and wait (up to ``kill_wait_s``, or for good)
    until it is reaped; nothing for a process that has already ended."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait_s)
