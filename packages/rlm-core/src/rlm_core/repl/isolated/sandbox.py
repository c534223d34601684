"""Worker-side confinement: resource limits, Landlock filesystem rules, the seccomp filter.

Runs inside the freshly started worker, before any model code, with the standard library
only. Order matters: limits first, then Landlock, then seccomp (which forbids ``setrlimit``
and the Landlock syscalls afterwards). Every step fails loudly: a worker that could not be
confined refuses to serve.
"""

from __future__ import annotations

import ctypes
import os
import resource
import struct
from collections.abc import Iterable

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# Filesystem rights by Landlock ABI version (each version adds bits).
_FS_V1 = (1 << 13) - 1  # execute, write, read, readdir, remove*, make*
_FS_V3 = _FS_V1 | 1 << 13 | 1 << 14  # + refer (v2), truncate (v3); v4 adds only TCP rules
_FS_BITS = {1: _FS_V1, 2: _FS_V1 | 1 << 13, 3: _FS_V3, 4: _FS_V3}
_FS_ALL_V5 = _FS_V3 | 1 << 15  # + ioctl on devices
READ_RIGHTS = 1 << 0 | 1 << 2 | 1 << 3  # execute (mmap of .so), read file, read dir
_FILE_RIGHTS = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 14 | 1 << 15  # execute, write, read, truncate, ioctl
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1, 2


class SandboxError(RuntimeError):
    """The worker could not be confined as requested."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


def _fail(what: str) -> SandboxError:
    errno = ctypes.get_errno()
    return SandboxError(f"{what} failed: {os.strerror(errno)} (errno {errno})")


def set_limits(*, memory_bytes: int, file_bytes: int, open_files: int) -> None:
    """Hard limits (soft == hard) on address space, file size, open files, core dumps."""
    for limit, value in (
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_NOFILE, open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def address_space_bytes() -> int:
    """The worker's current virtual size (the base that the memory cap is added to)."""
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    version = _libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET,
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    return max(int(version), 0)


def apply_landlock(read_only: Iterable[str], read_write: Iterable[str]) -> int:
    """Allow reads only beneath ``read_only`` and writes only beneath ``read_write``.

    Also denies TCP bind/connect (ABI >= 4) and signals or abstract unix sockets reaching
    outside the sandbox (ABI >= 6). Returns the ABI version used.
    """
    abi = landlock_abi()
    if abi < 1:
        raise SandboxError("Landlock is not available in this kernel (Linux >= 5.13 needed)")
    handled_fs = _FS_BITS.get(abi, _FS_ALL_V5)
    fields = [handled_fs]
    if abi >= 4:
        fields.append(NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        fields.append(SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL)
    attr = struct.pack(f"={len(fields)}Q", *fields)
    ruleset = _libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET,
        ctypes.c_char_p(attr),
        ctypes.c_size_t(len(attr)),
        ctypes.c_uint32(0),
    )
    if ruleset < 0:
        raise _fail("landlock_create_ruleset")
    try:
        for paths, rights in ((read_only, READ_RIGHTS), (read_write, handled_fs)):
            for path in paths:
                _add_path_rule(int(ruleset), path, rights & handled_fs)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if _libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)):
            raise _fail("landlock_restrict_self")
    finally:
        os.close(int(ruleset))
    return abi


def _add_path_rule(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS  # a rule on a file takes file rights only
        rule = struct.pack("=Qi", rights, fd)
        result = _libc.syscall(
            SYS_LANDLOCK_ADD_RULE,
            ctypes.c_int(ruleset),
            ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
            ctypes.c_char_p(rule),
            ctypes.c_uint32(0),
        )
        if result != 0:
            raise _fail(f"landlock_add_rule({path!r})")
    finally:
        os.close(fd)


def load_seccomp(program: bytes) -> None:
    """Install a raw BPF seccomp program (built on the host by ``policy.seccomp_program``)."""
    if not program or len(program) % 8:
        raise SandboxError("the seccomp program is empty or malformed")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    prog = SockFprog(len(program) // 8, program)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise _fail("prctl(PR_SET_SECCOMP)")
