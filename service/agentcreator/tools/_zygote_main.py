"""The sandbox's zygote: a clean interpreter that forks one child per run instead of starting one.

Run by ``zygote.py`` as ``python -I -B -c <this source> <directories>``, so it imports only the
standard library, pyseccomp and ``_confine.py`` (from the directories given), and sees only the
sandbox's environment. It makes itself non-dumpable, so a run cannot reach its request pipe
through ``/proc/<pid>/fd``, and confines every child before the child runs code (``_confine.py``).
It stays single-threaded (forking a threaded process is unsafe) and waits on one selector for
requests and for SIGCHLD, through the signal wakeup fd. At EOF on stdin (the application has gone)
it kills what still runs and exits. JSON lines:

    requests  {"id", "cwd", "script", "stdout", "stderr", "env", "limits": [as, cpu, fsize], "landlock"}
              {"id", "kill": true}
    replies   {"ready": pid, "isolation": [layer, ...] or {"refused": reason}}
              {"id", "pid"}  {"id", "status"} (as Popen.returncode)  {"id", "error"}

With ``--once <request>`` instead, it runs that one request in this process (the path taken when
no zygote can be used), confined the same way.
"""

# No ``from __future__ import annotations``: every module imported here is one the children inherit.
import atexit
import json
import os
import resource
import selectors
import signal
import sys

_confine = None  # the confinement module, imported by main() from the directory it is given

_PR_SET_CHILD_SUBREAPER = 36
# A run refused because its confinement failed exits with this status, its reason on stderr.
REFUSED_STATUS = 125
# Compiled once here: the compiler's first use sets up state that would otherwise be built (and
# its pages copied) in every child; measured at about 1.3 ms of CPU per run.
_WARM_UP = b"""
import sys
class Shape:
    def __init__(self, side: float = 1.0) -> None:
        self.side = side
def area(shapes: list[Shape]) -> float:
    total = sum(s.side ** 2 for s in shapes if s.side > 0)
    return {"total": total, "names": [f"{s!r:>4}" for s in shapes]}["total"]
try:
    print(area([Shape(2)]), file=sys.stderr)
except (ValueError, KeyError) as error:
    raise SystemExit(1) from error
"""


def _become_subreaper() -> None:
    """Adopt the runs' orphaned descendants, so they are reaped here rather than left as zombies
    of a PID 1 that never waits (the application, in a container without an init)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet a group leader: it is still before its setsid()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exit_status(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:  # the interpreter, too, exits 1 whatever printing did
        pass
    return 1


def _run_script(script: str) -> int:
    """Run ``script`` as ``__main__`` and return the exit status ``python script`` would have."""
    main = type(sys)("__main__")
    main.__dict__.update(__file__=script, __cached__=None, __builtins__=sys.modules["builtins"])
    sys.modules["__main__"] = main
    sys.argv = [script]
    interrupted = False
    try:
        with open(script, "rb") as source:  # noqa: PTH123 - bytes, so a coding cookie counts; no pathlib here
            code = compile(source.read(), script, "exec", dont_inherit=True)  # not this file's __future__
        exec(code, main.__dict__)
        status = 0
    except SystemExit as stop:
        status = _exit_status(stop.code)
    except BaseException as error:  # printed as the interpreter would, without this frame
        traceback = error.__traceback__.tb_next if error.__traceback__ else None
        error.__traceback__ = traceback  # the hook prints the exception's own traceback
        sys.last_type, sys.last_value, sys.last_traceback = type(error), error, traceback
        try:
            sys.excepthook(type(error), error, traceback)
        except BaseException:
            sys.__excepthook__(type(error), error, traceback)
        status, interrupted = 1, isinstance(error, KeyboardInterrupt)
        del error, traceback
    return _finalize(status, interrupted)


def _finalize(status: int, interrupted: bool) -> int:
    """The interpreter's exit: join non-daemon threads, run atexit, flush (exit 120 if that fails)."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()  # type: ignore[attr-defined]
        except BaseException:  # as in Py_FinalizeEx, exit anyway
            pass
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception as error:
            status = 120
            if stream is sys.stdout:  # reported as by PyErr_WriteUnraisable
                try:
                    sys.stderr.write(f"Exception ignored in: {stream!r}\n{type(error).__qualname__}: {error}\n")
                except Exception:  # the interpreter, too, ends with 120 whatever printing did
                    pass
    if interrupted:  # an uncaught KeyboardInterrupt ends the interpreter by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.raise_signal(signal.SIGINT)  # kill() is refused to a confined run, raise() is not
    return status


def _child(request: dict) -> None:
    """In the forked child: become what a fresh ``python -I -B script`` under the sandbox's limits is."""
    status = 1
    try:
        try:
            os.setsid()
        except PermissionError:  # started as its own session leader (``--once``)
            pass
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        stdin = os.open(os.devnull, os.O_RDWR)
        stdout = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 256))  # the protocol pipes, the selector, all else
        os.chdir(request["cwd"])
        env = request["env"]  # changed in place: most of it is already the zygote's own
        for name in [name for name in os.environ if name not in env]:
            del os.environ[name]
        for name, value in env.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        memory, cpu, fsize = request["limits"]
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            _confine.confine(request["cwd"], landlock=request.get("landlock", True))
        except _confine.ConfinementError as error:
            print(f"sandbox: the run was refused: {error}", file=sys.stderr, flush=True)
            status = REFUSED_STATUS
            return
        status = _run_script(request["script"])
    except BaseException:
        try:
            sys.__excepthook__(*sys.exc_info())
            sys.stderr.flush()
        except BaseException:  # nothing left to report to
            pass
    finally:
        os._exit(status)


def _probe_isolation() -> object:
    """The layers a run gets here, from a child that confines itself: a list, or {"refused": reason}."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer: object
        try:
            os.close(read)
            answer = list(_confine.confine(None))
        except BaseException as error:
            answer = {"refused": str(error)[:200]}
        finally:
            try:
                os.write(write, json.dumps(answer).encode())
            finally:
                os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"refused": "the isolation probe died"}


class _Server:
    """The request loop. Children are forked from inside it and never return to it."""

    def __init__(self, requests: int, replies: int) -> None:
        self._requests, self._replies = requests, replies
        self._wake_read, wake_write = os.pipe()
        for fd in (self._wake_read, wake_write):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # the wakeup fd needs a handler
        signal.set_wakeup_fd(wake_write)
        self._selector = selectors.DefaultSelector()
        self._selector.register(requests, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._runs: dict[int, int] = {}  # child pid -> request id
        self._pids: dict[int, int] = {}  # request id -> child pid

    def serve(self) -> None:
        self._reply(ready=os.getpid(), isolation=_probe_isolation())
        pending = b""
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.fd == self._wake_read:
                        self._reap()
                        continue
                    chunk = os.read(self._requests, 1 << 16)
                    if not chunk:
                        return
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        self._handle(json.loads(line))
        except BrokenPipeError:
            pass  # the application has stopped reading replies: it has gone
        finally:
            for pid in self._runs:
                _kill_group(pid)
            for pid, run_id in self._runs.items():
                try:
                    _, wait_status = os.waitpid(pid, 0)
                    self._reply(id=run_id, status=os.waitstatus_to_exitcode(wait_status))
                except OSError:  # reaped already, or nobody reads replies any more
                    pass

    def _handle(self, request: dict) -> None:
        run_id = request["id"]
        if request.get("kill"):
            if run_id in self._pids:  # not yet reaped, so the pid is still this run's
                _kill_group(self._pids[run_id])
            return
        try:
            pid = os.fork()
        except OSError as error:
            self._reply(id=run_id, error=str(error)[:200])
            return
        if pid == 0:
            _child(request)
        self._runs[pid], self._pids[run_id] = run_id, pid
        self._reply(id=run_id, pid=pid)

    def _reap(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run_id = self._runs.pop(pid, None)  # None: an adopted orphan of some run
            if run_id is not None:
                del self._pids[run_id]
                self._reply(id=run_id, status=os.waitstatus_to_exitcode(wait_status))

    def _reply(self, **message: object) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            data = data[os.write(self._replies, data) :]


def _import_confine(directories: str) -> None:
    """Import the confinement and libseccomp's bindings from ``directories``, which then leave sys.path."""
    global _confine
    added = directories.split(os.pathsep)
    sys.path[:0] = added
    try:
        import _confine as module

        module.make_undumpable()
        module.load_seccomp()  # once here, not in every child
    finally:
        del sys.path[: len(added)]
    _confine = module


def main() -> None:
    _import_confine(sys.argv[1])
    if sys.argv[2:3] == ["--once"]:
        _child(json.loads(sys.argv[3]))
    # Keep the protocol off fds 0 and 1, so nothing printed by accident can corrupt it.
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    _become_subreaper()
    compile(_WARM_UP, "<warm-up>", "exec")
    _Server(requests, replies).serve()


if __name__ == "__main__":
    main()
