"""``agentcreator serve --workers 2`` as real processes: both workers answer on one port, SIGTERM
drains both and exports every trace, a killed worker is replaced, no worker outlives the
supervisor, a crash loop stops everything, a worker still running at the stop deadline is
killed, and a bad worker count is exit 2 before anything listens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.integration.test_runtime import complete_trace, payload
from tests.support.otlp_sink import OtlpSink
from tests.support.runtime_server import RuntimeServer, clean_environment

pytestmark = pytest.mark.slow

TWO_WORKERS = ["--workers", "2"]
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc, or None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] == pid and stat[0] != "Z":
            found.add(int(entry.name))
    return found


def ping_pids(server: RuntimeServer, want: int, attempts: int = 400) -> set[int]:
    """Pids seen on /ping, one new connection per request, until ``want`` distinct ones answered."""
    pids: set[int] = set()
    for _ in range(attempts):
        response = httpx.get(server.url + "/ping", timeout=5)
        assert response.status_code == 200
        pids.add(response.json()["pid"])
        if len(pids) >= want:
            break
    return pids


def wait_for(condition: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


def invoke_in_background(server: RuntimeServer, body: dict, results: list) -> threading.Thread:
    def call() -> None:
        results.append(httpx.post(server.url + "/invocations", json=body, timeout=60))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def test_two_workers_share_one_port_and_both_answer() -> None:
    with (
        OtlpSink() as sink,
        RuntimeServer(
            {
                "AGENTCREATOR_LM": "offline",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
            args=TWO_WORKERS,
        ) as server,
    ):
        assert server.proc is not None
        workers = children(server.proc.pid)
        assert len(workers) == 2
        assert ping_pids(server, 2) == workers
        ping = server.ping()
        assert {"status", "time_of_last_update", "in_flight", "dropped_spans", "pid"} <= set(ping)

        results: list[httpx.Response] = []
        threads = [invoke_in_background(server, payload(agent_id=f"agent-{i}"), results) for i in range(6)]
        for thread in threads:
            thread.join(60)
        assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
        for response in results:
            body = response.json()
            sink.wait_for(lambda spans, body=body: complete_trace(spans, body["trace_id"], body["usage"]["llm_calls"]))
        log = server.log()

        # a second server on the port is refused, as without workers: SO_REUSEPORT must not let it share
        port = server.url.rsplit(":", 1)[1]
        second = subprocess.run(
            [sys.executable, "-m", "agentcreator.cli", "serve", "--host", "127.0.0.1", "--port", port, *TWO_WORKERS],
            env=clean_environment({"AGENTCREATOR_LM": "offline"}),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1 and "cannot listen on" in second.stderr, second.stderr

    # one start-up line, the supervisor's, with the real port; no worker announces another one
    assert log.count("Uvicorn running on") == 1, log
    assert f"Uvicorn running on {server.url} " in log


def test_sigterm_drains_in_flight_invocations_on_every_worker_and_exports_their_spans() -> None:
    with (
        OtlpSink() as sink,
        RuntimeServer(
            {
                "AGENTCREATOR_LM": "offline:latency_ms=100",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "30000",  # nothing leaves before each worker's shutdown flush
            },
            args=TWO_WORKERS,
        ) as server,
    ):
        assert server.proc is not None
        workers = children(server.proc.pid)
        results: list[httpx.Response] = []
        threads: list[threading.Thread] = []
        busy: dict[int, int] = {}
        while len(threads) < 24 and set(busy) != workers:
            threads += [
                invoke_in_background(server, payload(agent_id=f"agent-{len(threads) + i}"), results) for i in range(4)
            ]
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and set(busy) != workers:
                ping = server.ping()
                if ping["in_flight"]:
                    busy[ping["pid"]] = ping["in_flight"]
        assert set(busy) == workers, f"invocations in flight on {busy}, workers {workers}"

        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/ping", timeout=2)  # no process accepts any more
        for thread in threads:
            thread.join(60)
        assert server.wait() == 0, server.log()
        assert not any(alive(pid) for pid in workers)

    assert len(results) == len(threads)
    assert [r.status_code for r in results] == [200] * len(results), [r.text for r in results]
    spans = sink.spans()
    for response in results:
        body = response.json()
        assert complete_trace(spans, body["trace_id"], body["usage"]["llm_calls"]), body["trace_id"]


def test_a_killed_worker_is_replaced_and_no_worker_outlives_the_supervisor() -> None:
    with RuntimeServer({"AGENTCREATOR_LM": "offline"}, args=TWO_WORKERS) as server:
        assert server.proc is not None
        supervisor = server.proc.pid
        first = children(supervisor)
        victim, survivor = sorted(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not alive(victim), what="the worker's death")

        # every new connection is answered: by the survivor, or, if the kernel gave it to the dead
        # worker's socket (the supervisor keeps it open), by the replacement once that is up
        answered = [server.ping()["pid"] for _ in range(20)]
        replacement = wait_for(lambda: children(supervisor) - first, what="a replacement worker")
        assert survivor in children(supervisor) and not alive(victim)
        assert set(answered) <= {survivor, *replacement}
        assert ping_pids(server, 2) == {survivor, *replacement}
        assert "exited with signal SIGKILL" in server.log()

        server.terminate()
        assert server.wait() == 0, server.log()
    assert not any(alive(pid) for pid in {survivor, *replacement})


def test_workers_drain_and_exit_when_the_supervisor_is_killed() -> None:
    with RuntimeServer({"AGENTCREATOR_LM": "offline"}, args=TWO_WORKERS) as server:
        assert server.proc is not None
        workers = children(server.proc.pid)
        assert len(workers) == 2
        server.kill()  # SIGKILL: the supervisor cannot pass anything on
        wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10, what="orphaned workers exiting")


def test_a_worker_whose_supervisor_died_while_it_started_still_exits() -> None:
    """Killed before the worker looked, the supervisor is no longer its parent: it must know its pid."""
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        worker = subprocess.Popen(
            [sys.executable, "-m", "agentcreator.cli", "serve", "--listen-fd", str(listener.fileno()),
             "--supervisor-pid", str(gone.pid)],
            pass_fds=(listener.fileno(),), env=clean_environment({"AGENTCREATOR_LM": "offline"}), cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            output, _ = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert f"supervisor {gone.pid} is gone; shutting down" in output
    assert worker.returncode in (0, -signal.SIGTERM), output


def test_workers_that_keep_dying_at_start_stop_the_supervisor_with_one_line() -> None:
    script = textwrap.dedent("""
        import sys
        from agentcreator.runtime.supervisor import Supervisor
        sys.exit(Supervisor([sys.executable, "-c", "import sys; sys.exit(3)"], 2).run())
    """)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], env=clean_environment({}), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 15
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("agentcreator serve: error: workers keep exiting right after start"), done.stderr
    assert "exit code 3" in last


def test_a_worker_still_running_at_the_stop_deadline_is_killed_and_the_exit_is_1() -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    script = textwrap.dedent(f"""
        import sys
        from agentcreator.runtime import supervisor
        # ECS's 30 s, shortened so the test does not wait it out
        sys.exit(supervisor.Supervisor([sys.executable, "-c", {stubborn!r}], 1, stop_timeout_s=2.0).run())
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=clean_environment({}),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    worker = children(proc.pid).pop()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert 1.5 < time.monotonic() - started < 10
    assert "still ran at the stop deadline; killed it" in stderr
    assert not alive(worker)


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({"AGENTCREATOR_WORKERS": "0"}, []),
        ({"AGENTCREATOR_WORKERS": "abc"}, []),
        ({}, ["--workers", "0"]),
    ],
)
def test_a_bad_worker_count_is_one_line_and_exit_2(env: dict[str, str], args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentcreator.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        env=clean_environment({"AGENTCREATOR_LM": "offline", **env}),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "AGENTCREATOR_WORKERS" in lines[0] or "--workers" in lines[0]
