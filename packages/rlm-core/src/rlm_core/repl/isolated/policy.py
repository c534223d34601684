"""Host-side sandbox policy: the seccomp program and the paths a worker may read.

The seccomp program is compiled once per host process with ``pyseccomp`` (over the system's
``libseccomp.so.2``) and handed to each worker as raw BPF, so workers need neither libseccomp
nor ``ctypes.util.find_library`` (which would spawn ``ldconfig``).

The filter is a deny-list (default allow) aimed at every way out of the process: creating
sockets, starting processes (threads stay allowed), signalling or tracing other processes,
changing limits, namespaces and mounts, and kernel interfaces that bypass path checks
(io_uring, open_by_handle_at, bpf, ...). Filesystem paths are Landlock's job.
"""

from __future__ import annotations

import errno
import os
import sys
import sysconfig
import tempfile
import threading

CLONE_THREAD = 0x00010000

DENIED_SYSCALLS = (
    # network
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    # new processes and programs
    "fork",
    "vfork",
    "execve",
    "execveat",
    # other processes
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "kcmp",
    "process_madvise",
    # limits and scheduling (of this or other processes)
    "setrlimit",
    "prlimit64",
    "setpriority",
    "sched_setaffinity",
    "sched_setscheduler",
    "sched_setparam",
    "sched_setattr",
    "ioprio_set",
    # namespaces, mounts, filesystem escapes
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_by_handle_at",
    "name_to_handle_at",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "fanotify_init",
    "quotactl",
    # kernel interfaces
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "personality",
    "syslog",
    "acct",
    "ioperm",
    "iopl",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "vhangup",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
)

_cache: dict[str, bytes] = {}
_lock = threading.Lock()


class PolicyUnavailable(RuntimeError):
    """The host cannot build the sandbox policy (no libseccomp, not Linux)."""


def seccomp_program() -> bytes:
    """The raw BPF program (cached): EPERM for ``DENIED_SYSCALLS`` and non-thread ``clone``."""
    with _lock:
        if "bpf" not in _cache:
            _cache["bpf"] = _build_program()
        return _cache["bpf"]


def _build_program() -> bytes:
    if not sys.platform.startswith("linux"):
        raise PolicyUnavailable("the isolated backend needs Linux (seccomp and Landlock)")
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]
    except (ImportError, RuntimeError) as error:
        raise PolicyUnavailable(
            f"cannot load libseccomp ({error}); install the system package libseccomp2 "
            "(apt-get install libseccomp2) and the Python package pyseccomp"
        ) from None
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            continue  # a syscall this architecture does not have
    # clone without CLONE_THREAD makes a process: refuse it; threads stay possible.
    rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    # clone3 passes its flags in memory, which seccomp cannot read: make glibc fall back.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as sink:
        rules.export_bpf(sink)
        sink.seek(0)
        return sink.read()


def readable_paths() -> list[str]:
    """What a worker may read after confinement: the standard library and shared libraries."""
    paths = {
        os.path.dirname(os.__file__),
        sysconfig.get_paths()["platstdlib"],
        "/lib",
        "/lib64",
        "/usr/lib",
        "/usr/lib64",
        "/usr/share/zoneinfo",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/dev/null",
        "/dev/urandom",
    }
    return sorted(path for path in paths if path and os.path.exists(path))
