"""Confine a process before it runs generated code, with what an unprivileged Fargate task allows.

Generated code is hostile (a prompt injection in an SOP can make the LM write anything), so a
run gets, on top of its resource limits:

- ``non_dumpable``: ``PR_SET_DUMPABLE 0``, which also the application and the zygote set on
  themselves: a process of the same uid can then read none of their ``/proc/<pid>/environ``,
  ``mem`` or ``fd`` and cannot ptrace them;
- ``seccomp``: a filter (after ``PR_SET_NO_NEW_PRIVS``) that refuses sockets, new processes
  (threads stay allowed), exec, signals to any other process, ptrace and cross-process memory or
  descriptor access, limits or scheduling of other processes, chmod, namespaces, mounts, io_uring
  and BPF, and any new, renamed or removed file or directory;
- ``landlock`` where the kernel has it (5.13+): writes only in the run's directory, reads only in
  the interpreter's library directories, no TCP, and no signals or abstract sockets out of the run.

``seccomp`` and ``non_dumpable`` are required: without them a run is refused, never run with less.
Standard library and pyseccomp only: the zygote imports this module and its children inherit it.
The application imports it too, for ``make_undumpable``, which loads nothing.
"""

import ctypes
import errno
import os
import stat
import sys
from typing import Any

REQUIRED = ("non_dumpable", "seccomp")

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_THREAD = 0x00010000
_O_CREAT, _O_TMPFILE = os.O_CREAT, 0o20000000  # __O_TMPFILE: an unnamed file that still takes disk
_PRIO_PROCESS, _IOPRIO_WHO_PROCESS = 0, 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_seccomp: Any = False  # not yet imported
_rules: list[tuple[int, int, tuple[Any, ...]]] = []

# Refused outright with EPERM (names unknown on this architecture are skipped).
_DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "kill", "tkill",
    "execve", "execveat", "fork", "vfork",
    "chmod", "fchmod", "fchmodat", "fchmodat2",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    # No new, moved or removed names anywhere: a run writes only to what is already open or exists
    # (its output files), so without Landlock it can neither plant files nor fill the task's disk
    # (one run wrote 4 GB of 64 KB files in its own directory in 9 s), nor remove the run root.
    "creat", "mkdir", "mkdirat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat",
    "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "truncate", "memfd_create",
)
# Refused with ENOSYS, so the C library falls back to a call the filter can inspect (clone3's
# flags sit behind a pointer) or gives up quietly.
_UNSUPPORTED = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register", "openat2")

# Landlock's constants (include/uapi/linux/landlock.h).
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE, READ_DIR
_FS_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # rights a rule on a file may hold
# Every filesystem right of each ABI version: 13 in v1, REFER in v2, TRUNCATE in v3, IOCTL_DEV in v5.
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_ALL_LATEST = (1 << 16) - 1
_NET_ALL = (1 << 0) | (1 << 1)  # BIND_TCP, CONNECT_TCP (v4)
_SCOPE_ALL = (1 << 0) | (1 << 1)  # ABSTRACT_UNIX_SOCKET, SIGNAL (v6)
# Outside sys.path, what an import or the time module may read: shared libraries, time zones, and
# the run's own /proc entry (``/proc/self`` is resolved when the rule is made: this process only).
_SYSTEM_READABLE = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache", "/usr/share/zoneinfo",
                    "/etc/localtime", "/proc/self")


class ConfinementError(RuntimeError):
    """A required layer could not be applied: the run must not start."""


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _prctl(option: int, value: int) -> None:
    if _LIBC.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def make_undumpable() -> bool:
    """Hide this process's ``/proc`` files and memory from processes of the same uid; whether it worked."""
    try:
        _prctl(_PR_SET_DUMPABLE, 0)
    except OSError:
        return False
    return True


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where it has none (or it is disabled)."""
    version = _LIBC.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(version, 0)


def load_seccomp() -> Any:
    """libseccomp's bindings and the filter's rules, made once (looking the library up costs a few
    ms, resolving the rules one more); None if missing."""
    global _seccomp, _rules
    if _seccomp is False:
        try:
            import pyseccomp

            _rules = _rule_table(pyseccomp)  # a missing library shows here, not at import
            _seccomp = pyseccomp
        except (ImportError, OSError, AttributeError):
            _seccomp = None
    return _seccomp


def _rule_table(seccomp: Any) -> list[tuple[int, int, tuple[Any, ...]]]:
    """(action, syscall number, comparisons) of the filter, resolved once (the zygote, before it forks);
    comparisons naming ``"pid"`` are filled with the confined process's own id."""
    eperm, enosys = seccomp.ERRNO(errno.EPERM), seccomp.ERRNO(errno.ENOSYS)
    rules: list[tuple[int, str, tuple[Any, ...]]] = [(eperm, name, ()) for name in _DENIED]
    rules += [(enosys, name, ()) for name in _UNSUPPORTED]
    rules += [
        # Opening creates nothing: no O_CREAT, no O_TMPFILE (openat2's flags sit behind a pointer: ENOSYS).
        *((eperm, name, ((index, seccomp.MASKED_EQ, flag, flag),))
          for name, index in (("open", 1), ("openat", 2)) for flag in (_O_CREAT, _O_TMPFILE)),
        # No sockets at all: no TCP/UDP, netlink, packet or unix sockets (socketpair stays allowed).
        (seccomp.ERRNO(errno.EACCES), "socket", ()),
        # Processes: threads only. A signal or a limit only for this process itself.
        (eperm, "clone", ((0, seccomp.MASKED_EQ, _CLONE_THREAD, 0),)),
        (eperm, "tgkill", ((0, seccomp.NE, "pid"),)),
        (eperm, "rt_sigqueueinfo", ((0, seccomp.NE, "pid"),)),
        (eperm, "rt_tgsigqueueinfo", ((0, seccomp.NE, "pid"),)),
        (eperm, "prlimit64", ((0, seccomp.NE, 0),)),
        # Scheduling, likewise: renicing or pinning the application would slow every later invocation.
        (eperm, "setpriority", ((0, seccomp.NE, _PRIO_PROCESS),)),
        (eperm, "setpriority", ((1, seccomp.NE, 0),)),
        (eperm, "ioprio_set", ((0, seccomp.NE, _IOPRIO_WHO_PROCESS),)),
        (eperm, "ioprio_set", ((1, seccomp.NE, 0),)),
        *((eperm, name, ((0, seccomp.NE, 0),))
          for name in ("sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr")),
        (eperm, "prctl", ((0, seccomp.EQ, _PR_SET_DUMPABLE),)),
    ]
    table = []
    for action, name, comparisons in rules:
        try:
            number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
        except (OSError, ValueError):
            continue
        if number >= 0:  # negative: not a system call of this architecture
            table.append((action, number, comparisons))
    return table


def _seccomp_filter(seccomp: Any, table: list[tuple[int, int, tuple[Any, ...]]]) -> Any:
    flt = seccomp.SyscallFilter(seccomp.ALLOW)  # its load() sets PR_SET_NO_NEW_PRIVS first
    pid = os.getpid()
    for action, number, comparisons in table:
        args = [seccomp.Arg(*(pid if value == "pid" else value for value in comparison)) for comparison in comparisons]
        flt.add_rule(action, number, *args)
    return flt


def _landlock(abi: int, writable: str | None) -> None:
    if _LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise ConfinementError("no_new_privs could not be set")
    fs_all = _FS_ALL_BY_ABI.get(abi, _FS_ALL_LATEST)
    attr = (ctypes.c_uint64 * 3)(fs_all, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _LIBC.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise ConfinementError(f"landlock: {os.strerror(ctypes.get_errno())}")
    try:
        readable = [entry for entry in sys.path if entry] + list(_SYSTEM_READABLE)
        for path, access in [(path, _FS_READ) for path in readable] + [(writable, fs_all)]:
            if path:
                _allow(ruleset, path, access)
        if _LIBC.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise ConfinementError(f"landlock: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)


def _allow(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:  # a library directory this system does not have
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FS_FILE_RIGHTS
        rule = _PathBeneath(access, fd)
        if _LIBC.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise ConfinementError(f"landlock rule for {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def confine(writable: str | None, *, landlock: bool = True) -> tuple[str, ...]:
    """Apply every layer to this (single-threaded) process; the names of those applied.

    ``writable`` is the one directory the run may write in. Raises ``ConfinementError`` when a
    required layer cannot be applied; Landlock is added where the kernel has it.
    """
    applied = []
    if not make_undumpable():
        raise ConfinementError("PR_SET_DUMPABLE failed")
    applied.append("non_dumpable")
    abi = landlock_abi() if landlock else 0
    if abi:  # before seccomp, whose filter does not hinder it but keeps the order simple to reason about
        _landlock(abi, writable)
        applied.append(f"landlock_v{abi}")
    seccomp = load_seccomp()
    if seccomp is None:
        raise ConfinementError("seccomp: libseccomp or its Python bindings are not installed")
    try:
        _seccomp_filter(seccomp, _rules).load()
    except OSError as error:
        raise ConfinementError(f"seccomp: {error}") from error
    applied.append("seccomp")
    return tuple(applied)
