from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcreator.tools import code_interpreter, run_python
from agentcreator.tools.code_interpreter import sandbox_environment
from agentcreator.tools.zygote import Zygote

PRINT_PARENT = "import os; print(os.getppid())"


@pytest.fixture
def zygote(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    """A zygote of the test's own, so that killing it disturbs no other test."""
    own = Zygote(sandbox_environment())
    monkeypatch.setattr(code_interpreter, "_zygote", own)
    yield own
    own.close()


@pytest.fixture
def no_zygote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs take the direct path: the zygote's interpreter does not exist."""
    monkeypatch.setattr(code_interpreter, "_zygote", Zygote(sandbox_environment(), executable="/nonexistent/python"))


def _ended(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` has exited (gone, or a zombie of a parent that is not ours to make wait)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def _zombie_children() -> list[int]:
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(stat.parent.name))
    return zombies


def test_runs_are_forked_from_the_zygote(zygote: Zygote) -> None:
    first, second = run_python(PRINT_PARENT), run_python(PRINT_PARENT)
    assert first.ok and second.ok
    assert int(first.stdout) == int(second.stdout) == zygote.pid != os.getpid()


def test_concurrent_runs_each_get_their_own_output(zygote: Zygote) -> None:
    results: dict[int, list] = {}

    def invocation(number: int) -> None:
        code = f"import os, time\ntime.sleep(0.05)\nprint('run {number}', os.getppid())\nraise SystemExit({number})"
        results[number] = [run_python(code) for _ in range(3)]

    threads = [threading.Thread(target=invocation, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == list(range(8))
    for number, runs in results.items():
        for result in runs:
            assert result.stdout == f"run {number} {zygote.pid}\n" and result.exit_code == number
    assert _zombie_children() == []


def _children_of(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return children


def _wait_for_child_of(parent: int, within_s: float = 5.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if children := _children_of(parent):
            return children[0]
        time.sleep(0.01)
    raise AssertionError(f"no child of {parent} appeared")


def test_a_timed_out_run_is_killed_and_the_zygote_carries_on(zygote: Zygote) -> None:
    assert run_python("pass").ok
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(run_python("while True:\n    pass", timeout_s=1)))
    worker.start()
    child = _wait_for_child_of(zygote.pid)
    worker.join(timeout=30)
    assert outcome[0].timed_out and outcome[0].exit_code is None and not outcome[0].memory_exceeded
    assert _ended(child)
    after = run_python(PRINT_PARENT)
    assert after.ok and int(after.stdout) == zygote.pid  # the zygote carried on


def test_a_zygote_killed_between_runs_is_replaced(zygote: Zygote) -> None:
    assert run_python("pass").ok
    killed = zygote.pid
    os.kill(killed, signal.SIGKILL)
    result = run_python(PRINT_PARENT)
    assert result.ok and int(result.stdout) == zygote.pid != killed
    assert _ended(killed) and killed not in _zombie_children()


def test_a_run_whose_zygote_dies_is_run_again(zygote: Zygote) -> None:
    code = "import time\ntime.sleep(1)\nprint('finished')"
    assert run_python("pass").ok
    killed = zygote.pid
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(run_python(code, timeout_s=5)))
    worker.start()
    first = _wait_for_child_of(killed)
    os.kill(killed, signal.SIGKILL)
    worker.join(timeout=30)
    assert outcome[0].ok and outcome[0].stdout == "finished\n"
    assert _ended(first)  # the orphan of the dead zygote was stopped, not left running


def test_the_child_holds_no_descriptor_but_its_own(zygote: Zygote) -> None:
    code = (
        "import json, os\n"
        "names = os.listdir('/proc/self/fd')\n"  # opens (then closes) one more: 3
        "print(json.dumps({fd: os.readlink(f'/proc/self/fd/{fd}') for fd in names if fd != '3'} | {'all': names}))"
    )
    result = run_python(code)
    assert result.ok, result.stderr
    fds = json.loads(result.stdout)
    assert sorted(fds.pop("all"), key=int) == ["0", "1", "2", "3"]
    assert fds == {"0": "/dev/null", "1": fds["1"], "2": fds["2"]}
    assert fds["1"].endswith("/.stdout") and fds["2"].endswith("/.stderr")


def test_the_environment_holds_nothing_of_the_parent(zygote: Zygote, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-for-test")
    result = run_python("import json, os\nprint(json.dumps({'env': dict(os.environ), 'parent': os.getppid()}))")
    seen = json.loads(result.stdout)
    assert seen["parent"] == zygote.pid  # started after the variable was set
    assert set(seen["env"]) == set(sandbox_environment()) | {"HOME", "TMPDIR"}
    assert seen["env"]["HOME"] == seen["env"]["TMPDIR"] != "/"
    assert b"fake-for-test" not in Path(f"/proc/{zygote.pid}/environ").read_bytes()


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/true"])
def test_a_zygote_that_cannot_start_falls_back_to_a_new_interpreter(
    monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    broken = Zygote(sandbox_environment(), executable=executable)
    monkeypatch.setattr(code_interpreter, "_zygote", broken)
    for _ in range(2):
        result = run_python(PRINT_PARENT)
        assert result.ok and int(result.stdout) == os.getpid()
    assert broken.pid is None


def test_the_zygote_and_its_runs_end_with_the_application() -> None:
    application = """
import threading
from agentcreator.tools import code_interpreter, run_python
from tests.unit.test_zygote import _wait_for_child_of
run_python("pass")
zygote = code_interpreter._zygote.pid
threading.Thread(target=run_python, args=("import time; time.sleep(60)",), daemon=True).start()
print(zygote, _wait_for_child_of(zygote), flush=True)
import os; os._exit(0)
"""
    # The application runs under a subreaper, which adopts the zygote it leaves behind and so can
    # see how (and whether) the zygote ends.
    supervisor = f"""
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
app = subprocess.run([sys.executable, "-c", {application!r}], capture_output=True, text=True, timeout=60)
zygote, run = map(int, app.stdout.split())
print(run)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    pid, status = os.waitpid(zygote, os.WNOHANG)
    if pid:
        print(os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.01)
else:
    os.kill(zygote, 9)
    print("still running")
"""
    ended = subprocess.run([sys.executable, "-c", supervisor], capture_output=True, text=True, timeout=90)
    run, status = ended.stdout.split("\n", 1)
    assert status == "0\n", ended.stderr  # it saw EOF and exited by itself
    assert _ended(int(run))  # the run it was serving was killed, not orphaned


def _normalized(stderr: str) -> str:
    """Without the run's directory, and without what the direct path's bootstrap adds to a traceback
    (its own frame; a header above a syntax error, which ``python script.py`` does not print)."""
    stderr = re.sub(r"/tmp/agentcreator-sandbox-\w+/\w+", "WORKDIR", stderr)
    stderr = re.sub(r'  File "<string>", line \d+, in <module>\n', "", stderr)
    return re.sub(r'Traceback \(most recent call last\):\n(?=  File "[^"]+", line \d+\n)', "", stderr)


EXIT_CASES = {
    "returns": "print('done')",
    "sys.exit()": "import sys; sys.exit()",
    "sys.exit(3)": "import sys; sys.exit(3)",
    "sys.exit(263)": "import sys; sys.exit(263)",
    "sys.exit('bye')": "import sys; print('out'); sys.exit('bye')",
    "exception": "print('before'); raise ValueError('bad tool')",
    "syntax error": "def (",
    "os._exit": "import os; print('lost', end=''); os._exit(5)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "atexit": "import atexit; atexit.register(print, 'at exit')",
    "thread joined": "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), print('t'))).start()",
    "unflushed": "import sys; sys.stdout.write('no newline')",
    "stdin": "import sys; print(repr(sys.stdin.read()))",
    "session": "import os; print(os.getsid(0) == os.getpgrp() == os.getpid())",
    "signals": "import signal; print([signal.getsignal(s) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGPIPE)])",
    "wakeup fd": "import signal; print(signal.set_wakeup_fd(-1))",
    "limits": "import resource as r; print([r.getrlimit(getattr(r, 'RLIMIT_' + x)) for x in ('AS', 'CPU', 'FSIZE')])",
    "no core": "import resource; print(resource.getrlimit(resource.RLIMIT_CORE))",
    "argv and cwd": "import os, sys; print(sys.argv == [__file__], __name__, os.getcwd() == os.path.dirname(__file__))",
    "annotations": "def f(x: int): pass\nprint(f.__annotations__)",
    "SIGXCPU": "import resource; resource.setrlimit(resource.RLIMIT_CPU, (1, 1))\nwhile True: pass",
}


@pytest.mark.parametrize("code", EXIT_CASES.values(), ids=EXIT_CASES.keys())
def test_a_forked_child_ends_as_a_new_interpreter_would(
    zygote: Zygote, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    forked = run_python(code, timeout_s=5)
    assert zygote.pid is not None
    monkeypatch.setattr(code_interpreter, "_zygote", Zygote(sandbox_environment(), executable="/nonexistent/python"))
    direct = run_python(code, timeout_s=5)
    assert (forked.exit_code, forked.timed_out, forked.memory_exceeded) == (
        direct.exit_code,
        direct.timed_out,
        direct.memory_exceeded,
    )
    assert forked.stdout == direct.stdout
    assert _normalized(forked.stderr) == _normalized(direct.stderr)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_past_the_file_limit_ends_as_a_new_interpreter_would(
    zygote: Zygote, monkeypatch: pytest.MonkeyPatch, stream: str
) -> None:
    code = f"import sys; sys.{stream}.write('x' * 5000)"  # flushed at exit, past RLIMIT_FSIZE: status 120
    forked = run_python(code, max_output_bytes=1000)
    monkeypatch.setattr(code_interpreter, "_zygote", Zygote(sandbox_environment(), executable="/nonexistent/python"))
    direct = run_python(code, max_output_bytes=1000)
    assert forked.exit_code == direct.exit_code == 120
    assert (forked.stdout, forked.stderr) == (direct.stdout, direct.stderr)


def test_the_script_is_the_main_module(zygote: Zygote) -> None:
    code = "import __main__, pickle\ndef f(): pass\nprint(__main__.__file__ == __file__, pickle.loads(pickle.dumps(f)))"
    result = run_python(code)
    assert result.stdout.startswith("True <function f at")
