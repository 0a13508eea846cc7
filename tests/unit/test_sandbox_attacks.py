"""Hostile code through the real ``run_python``, run by an application that is not root.

The application (``_HARNESS``) runs as the container does: an unprivileged uid (one of its own when
the tests run as root, as CI does), a fake ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` in its
environment, a home it can write to, and a loopback listener. Each attack prints ``BLOCKED name``
or ``REACHED name detail`` for every step it tries; a test passes only when every step it expects
was tried and blocked, the marker of the credential appears nowhere, nothing connected to the
listener, nothing was written outside the run, and no process of the run outlives it. The same
attacks run again without Landlock, which the kernel of a Fargate task may lack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentcreator
from agentcreator.tools._confine import landlock_abi

# The container's user is 10001. As root (CI) the tests take an unprivileged uid of their own instead,
# one no other process here has: a concurrent test run's processes never count as this one's survivors.
APP_UID = 20000 + os.getpid() % 40000
MARKER = "FAKE-CREDENTIALS-4f1c2a"

_PREAMBLE = """
import ctypes, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, action):
    try:
        result = action()
    except BaseException as error:
        print(f"BLOCKED|{name}|{type(error).__name__}", flush=True)
        return
    if result is False or result == -1:
        print(f"BLOCKED|{name}|errno {ctypes.get_errno()}", flush=True)
    else:
        print(f"REACHED|{name}|{repr(result)[:300]}", flush=True)
def read(path, size=4096):
    with open(path, "rb") as handle:
        return handle.read(size)
"""

# name -> (code, steps it must report as blocked). APP, ZYGOTE, PORT, HOME, PLANTED are filled in by the harness.
ATTACKS: dict[str, tuple[str, list[str]]] = {
    "other processes' secrets": (
        """
for who, pid in (("app", APP), ("zygote", ZYGOTE), ("init", 1)):
    for part in ("environ", "cmdline", "mem", "maps", "cwd/", "root/etc/hostname"):
        attempt(f"{who} {part}", lambda: read(f"/proc/{pid}/{part}"))
    attempt(f"{who} fd", lambda: os.listdir(f"/proc/{pid}/fd"))
def scan():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                found.append(read(f"/proc/{entry}/environ"))
            except OSError:
                pass
    return found or False
attempt("any environ", scan)
""",
        [f"{who} {part}" for who in ("app", "zygote", "init")
         for part in ("environ", "cmdline", "mem", "maps", "cwd/", "root/etc/hostname", "fd")] + ["any environ"],
    ),
    "debugging and descriptor theft": (
        """
attempt("ptrace attach", lambda: libc.ptrace(16, APP, 0, 0))
attempt("ptrace seize", lambda: libc.ptrace(0x4206, ZYGOTE, 0, 0))
buffer = ctypes.create_string_buffer(64)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local, remote = iovec(ctypes.addressof(buffer), 64), iovec(0x400000, 64)
attempt("process_vm_readv", lambda: libc.process_vm_readv(APP, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
attempt("pidfd_open", lambda: os.pidfd_open(APP))
attempt("pidfd_getfd", lambda: libc.syscall(438, 3, 0, 0))
""",
        ["ptrace attach", "ptrace seize", "process_vm_readv", "pidfd_open", "pidfd_getfd"],
    ),
    "network": (
        """
def connect(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect(address)
        return "connected"
attempt("loopback listener", lambda: connect(socket.AF_INET, ("127.0.0.1", PORT)))
attempt("ECS credentials endpoint", lambda: connect(socket.AF_INET, ("169.254.170.2", 80)))
attempt("ipv6 loopback", lambda: connect(socket.AF_INET6, ("::1", PORT)))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("io_uring", lambda: libc.syscall(425, 8, ctypes.create_string_buffer(120)))
""",
        ["loopback listener", "ECS credentials endpoint", "ipv6 loopback", "udp", "netlink", "packet", "unix",
         "io_uring"],
    ),
    "writes outside the run": (
        """
def write(path, text="[default]\\ncredential_process = /bin/sh -c 'id > /tmp/pwned'\\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        return handle.write(text)
attempt("app home aws config", lambda: write(HOME + "/.aws/config"))
attempt("app home config dir", lambda: write(HOME + "/.config/pwned"))
attempt("shared tmp", lambda: write(PLANTED))
attempt("run root listing", lambda: os.listdir(".."))
attempt("run root chmod", lambda: os.chmod("..", 0o777))
attempt("own dir chmod", lambda: os.chmod(".", 0o777))
""",
        ["app home aws config", "app home config dir", "shared tmp", "run root listing", "run root chmod",
         "own dir chmod"],
    ),
    "files created, moved or removed": (
        """
def fill():
    n = 0
    while n < 1000:
        with open(f"fill-{n}", "wb") as handle:
            handle.write(b"x" * 65536)
        n += 1
    return n
attempt("fill the disk from the own directory", fill)
attempt("unnamed file", lambda: os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600))
attempt("memfd", lambda: os.memfd_create("fill"))
attempt("directory", lambda: os.mkdir("d"))
attempt("symlink", lambda: os.symlink("/proc/1/environ", "l"))
attempt("hard link", lambda: os.link("main.py", "copy.py"))
attempt("remove the run's directory", lambda: os.rmdir(os.getcwd()))
attempt("move the run root", lambda: os.rename(os.path.dirname(os.getcwd()), "/tmp/moved-run-root"))
attempt("remove the own script", lambda: os.unlink("main.py"))
attempt("shared memory", lambda: open(f"/dev/shm/agentcreator-fill-{os.getuid()}", "wb"))
""",
        ["fill the disk from the own directory", "unnamed file", "memfd", "directory", "symlink", "hard link",
         "remove the run's directory", "move the run root", "remove the own script", "shared memory"],
    ),
    "signals": (
        """
attempt("signal app", lambda: os.kill(APP, 0))
attempt("signal zygote", lambda: os.kill(ZYGOTE, 0))
attempt("kill app's group", lambda: os.killpg(os.getpgid(APP), signal.SIGTERM))
attempt("tgkill app", lambda: libc.syscall(234, APP, APP, 0))
attempt("everyone", lambda: os.kill(-1, signal.SIGKILL))
attempt("renice app", lambda: os.setpriority(os.PRIO_PROCESS, APP, 19) or "reniced")
attempt("renice zygote", lambda: os.setpriority(os.PRIO_PROCESS, ZYGOTE, 19) or "reniced")
attempt("renice own group", lambda: os.setpriority(os.PRIO_PGRP, 0, 19) or "reniced")
attempt("renice the uid", lambda: os.setpriority(os.PRIO_USER, 0, 19) or "reniced")
attempt("pin app", lambda: os.sched_setaffinity(APP, {0}) or "pinned")
attempt("app's scheduler", lambda: os.sched_setscheduler(APP, os.SCHED_IDLE, os.sched_param(0)) or "idle")
attempt("app's io priority", lambda: libc.syscall(251, 1, APP, 7 | (3 << 13)))
attempt("group's io priority", lambda: libc.syscall(251, 2, 0, 7 | (3 << 13)))
attempt("own priority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 19) or "reniced")
""",
        ["signal app", "signal zygote", "kill app's group", "tgkill app", "everyone", "renice app", "renice zygote",
         "renice own group", "renice the uid", "pin app", "app's scheduler", "app's io priority",
         "group's io priority"],
    ),
    "processes that outlive the run": (
        """
import subprocess, threading
attempt("fork", lambda: os.fork())
attempt("subprocess", lambda: subprocess.Popen(["sleep", "30"], start_new_session=True))
attempt("posix_spawn", lambda: os.posix_spawn("/bin/sleep", ["sleep", "30"], {}))
attempt("exec", lambda: os.execv("/bin/sh", ["sh", "-c", "sleep 30"]))
attempt("clone3", lambda: libc.syscall(435, 0, 0))
def grandchild():
    os.setsid()
    return os.fork()
attempt("setsid grandchild", grandchild)
print("still here", threading.active_count(), flush=True)
""",
        ["fork", "subprocess", "posix_spawn", "exec", "clone3", "setsid grandchild"],
    ),
    "limits and the zygote's channel": (
        """
import json, resource
request = {"id": 999, "cwd": "/", "script": "/dev/null", "stdout": "/dev/null", "stderr": "/dev/null",
           "env": {}, "limits": [2**40, 10**6, 2**40]}
def inject():
    with open(f"/proc/{ZYGOTE}/fd/0", "w") as pipe:
        return pipe.write(json.dumps(request) + "\\n")
attempt("zygote request pipe", inject)
attempt("raise own memory limit", lambda: resource.setrlimit(resource.RLIMIT_AS, (2**40, 2**40)))
attempt("limits of the app", lambda: resource.prlimit(APP, resource.RLIMIT_AS, (1, 1)))
attempt("dumpable again", lambda: libc.prctl(4, 1, 0, 0, 0))
""",
        ["zygote request pipe", "raise own memory limit", "limits of the app", "dumpable again"],
    ),
}

# Without Landlock, reading a process's command line is left to the kernel's defaults (it holds no
# secret: `agentcreator serve`); writes outside the run are held by seccomp (no file is created).
_NEEDS_LANDLOCK = {"app cmdline", "zygote cmdline", "init cmdline", "init environ", "init maps", "init cwd/",
                   "init root/etc/hostname", "init fd", "init mem", "any environ"}

_HARNESS = r"""
import json, os, socket, sys, threading, time
from agentcreator.tools import code_interpreter, run_python

code_interpreter._LANDLOCK = sys.argv[2] == "landlock"
PLANTED = f"/tmp/agentcreator-pwned-{os.getuid()}"  # this uid's: another test run's is not ours to remove
if os.path.exists(PLANTED):  # left by an earlier run without Landlock
    os.unlink(PLANTED)
attacks = json.loads(sys.argv[1])
listener = socket.create_server(("127.0.0.1", 0))
connections = []
threading.Thread(target=lambda: [connections.append(listener.accept()) for _ in iter(int, 1)], daemon=True).start()
code_interpreter.start_sandbox()
zygote = code_interpreter._zygote.pid
fill = {"APP": os.getpid(), "ZYGOTE": zygote, "PORT": listener.getsockname()[1], "HOME": os.environ["HOME"],
        "PLANTED": PLANTED}
constants = "".join(f"{name} = {value!r}\n" for name, value in fill.items())

def started_at(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])

born = started_at(os.getpid())

def own_processes():
    # this uid's processes started since this one, but for the zygote (an earlier test's may linger)
    mine = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (os.getpid(), zygote):
            try:
                if os.stat(f"/proc/{entry}").st_uid == os.getuid() and started_at(entry) >= born:
                    mine.append(int(entry))
            except (OSError, IndexError):
                pass
    return mine

report = {"isolation": code_interpreter.isolation(), "zygote": zygote, "attacks": {}}
for name, (preamble_and_code) in attacks.items():
    result = run_python(constants + preamble_and_code, timeout_s=5)
    time.sleep(0.05)
    report["attacks"][name] = {"stdout": result.stdout, "stderr": result.stderr, "exit_code": result.exit_code,
                               "survivors": own_processes(), "zygote_alive": code_interpreter._zygote.pid == zygote}

# A victim run and an attacker run at the same time: the attacker looks for the victim's directory.
victim_code = "import time\nprint('genuine', flush=True)\ntime.sleep(1.5)"  # its result: the .stdout file
attacker_code = constants + sys.argv[3]
outcome = {}
victim = threading.Thread(target=lambda: outcome.update(victim=run_python(victim_code, timeout_s=5)))
victim.start()
time.sleep(0.3)
outcome["attacker"] = run_python(attacker_code, timeout_s=5)
victim.join()
report["attacks"]["another run"] = {"stdout": outcome["attacker"].stdout, "stderr": outcome["attacker"].stderr,
                                    "exit_code": outcome["attacker"].exit_code, "survivors": own_processes(),
                                    "zygote_alive": code_interpreter._zygote.pid == zygote}
report["victim"] = outcome["victim"].stdout
# A run killed at its time limit, after trying to leave something behind.
stuck = run_python("import os\ntry:\n    os.fork()\nexcept OSError:\n    pass\nwhile True:\n    pass", timeout_s=1)
time.sleep(0.05)
report["timeout"] = {"timed_out": stuck.timed_out, "survivors": own_processes()}
report["connections"] = len(connections)
report["home"] = sorted(str(p) for p in __import__("pathlib").Path(os.environ["HOME"]).rglob("*"))
report["tmp_pwned"] = os.path.exists(PLANTED)
if report["tmp_pwned"]:
    os.unlink(PLANTED)
print(json.dumps(report))
"""

_ANOTHER_RUN = _PREAMBLE + """
import glob
mine = os.getcwd()
candidates = [d for d in glob.glob("/tmp/*/*") + glob.glob("/tmp/agentcreator-sandbox-*/*") if d != mine]
try:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                candidates.append(os.readlink(f"/proc/{entry}/cwd"))
            except OSError:
                pass
except OSError:
    pass
def forge():
    for directory in candidates:
        target = os.path.join(directory, ".stdout")
        if directory != mine and os.path.exists(target):
            os.write(os.open(target, os.O_WRONLY | os.O_APPEND), b"forged")
            return directory
    return False
attempt("find and forge another run", forge)
attempt("list the run root", lambda: os.listdir(os.path.dirname(mine)))
"""


def _interpreter_for(uid: int) -> str:
    """A Python 3.11-3.13 the unprivileged user can execute (root's pyenv may sit under a 0700 /root)."""
    as_user = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
    for candidate in (sys.executable, "/usr/local/bin/python3", "/usr/bin/python3"):
        try:
            probe = subprocess.run(  # noqa: S603 - fixed argv
                [candidate, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
                capture_output=True, text=True, timeout=30, check=False, **as_user,
            )
        except OSError:  # not there, or not executable by this user
            continue
        if probe.stdout.strip() == "True":
            return candidate
    pytest.fail(f"no Python 3.11+ that uid {uid} can run: the attack tests cannot run as a non-root user")


@pytest.fixture(scope="module")
def app_tree() -> Iterator[tuple[Path, Path]]:
    """The application's code and a home, readable (the home writable) by the unprivileged user.
    Not under pytest's tmp_path, whose parent only root may enter."""
    import pyseccomp

    with tempfile.TemporaryDirectory(prefix="unprivileged-app-") as directory:
        yield _lay_out(Path(directory), pyseccomp.__file__)


def _lay_out(root: Path, pyseccomp_file: str) -> tuple[Path, Path]:
    code = root / "code"
    shutil.copytree(Path(agentcreator.__file__).parent, code / "agentcreator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(pyseccomp_file, code / "pyseccomp.py")
    home = root / "home"
    home.mkdir()
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    if os.geteuid() == 0:
        os.chown(home, APP_UID, APP_UID)
    return code, home


def _attack(app_tree: tuple[Path, Path], mode: str) -> dict:
    code, home = app_tree
    for leftover in home.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    uid = APP_UID if os.geteuid() == 0 else os.geteuid()
    attacks = {name: _PREAMBLE + body for name, (body, _) in ATTACKS.items()}
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(code),
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": f"/v2/credentials/{MARKER}",
        "AWS_SECRET_ACCESS_KEY": MARKER,
    }
    as_user = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [_interpreter_for(uid), "-c", _HARNESS, json.dumps(attacks), mode, _ANOTHER_RUN],
        cwd=code, env=env, capture_output=True, text=True, timeout=240, check=False, **as_user,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module", params=["landlock", "without-landlock"])
def attacked(request: pytest.FixtureRequest, app_tree: tuple[Path, Path]) -> tuple[str, dict]:
    if request.param == "landlock" and not landlock_abi():
        pytest.skip("LOUD SKIP: this kernel has no Landlock; the attacks still run without it")
    return request.param, _attack(app_tree, request.param)


def _verdicts(stdout: str, verdict: str) -> set[str]:
    return {line.split("|")[1] for line in stdout.splitlines() if line.startswith(verdict + "|")}


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_step_of_the_attack_is_blocked(attacked: tuple[str, dict], attack: str) -> None:
    mode, report = attacked
    seen = report["attacks"][attack]
    expected = set(ATTACKS[attack][1])
    if mode != "landlock":
        expected -= _NEEDS_LANDLOCK
    blocked = _verdicts(seen["stdout"], "BLOCKED")
    assert expected <= blocked, f"not tried or not blocked: {expected - blocked}\n{seen['stdout']}{seen['stderr']}"
    assert MARKER not in seen["stdout"] + seen["stderr"]
    assert seen["survivors"] == [], "a process of the run outlived it"
    assert seen["zygote_alive"]


def test_processes_cannot_be_started_yet_threads_still_work(attacked: tuple[str, dict]) -> None:
    seen = attacked[1]["attacks"]["processes that outlive the run"]
    assert "still here 1" in seen["stdout"]


def test_a_run_may_still_lower_its_own_priority(attacked: tuple[str, dict]) -> None:
    assert "own priority" in _verdicts(attacked[1]["attacks"]["signals"]["stdout"], "REACHED")


def test_nothing_reached_the_listener_the_home_or_the_shared_tmp(attacked: tuple[str, dict]) -> None:
    report = attacked[1]
    assert report["connections"] == 0
    assert report["home"] == []
    assert not report["tmp_pwned"]


def test_a_run_cannot_find_or_forge_a_concurrent_run(attacked: tuple[str, dict]) -> None:
    report = attacked[1]
    seen = report["attacks"]["another run"]
    assert _verdicts(seen["stdout"], "BLOCKED") == {"find and forge another run", "list the run root"}, (
        seen["stdout"] + seen["stderr"]
    )
    assert report["victim"] == "genuine\n"


def test_a_timed_out_run_leaves_nothing_behind(attacked: tuple[str, dict]) -> None:
    report = attacked[1]
    assert report["timeout"] == {"timed_out": True, "survivors": []}


def test_the_application_reports_its_isolation(attacked: tuple[str, dict]) -> None:
    isolation = attacked[1]["isolation"]
    assert "refused" not in isolation
    assert {"non_dumpable", "seccomp"} <= set(isolation["layers"])
    assert any(layer.startswith("landlock") for layer in isolation["layers"]) == bool(landlock_abi())
