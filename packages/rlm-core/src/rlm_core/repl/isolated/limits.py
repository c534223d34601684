"""The resource limits of an isolated worker, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from rlm_core.errors import ConfigError

MB = 1 << 20


@dataclass(frozen=True, slots=True)
class IsolationLimits:
    """Limits applied to every isolated worker.

    - ``memory_mb``: address space the model code may add on top of the worker's start-up
      size (interpreter + context); past it allocations raise ``MemoryError``.
    - ``cpu_seconds``: CPU time per ``exec``; past it the worker is killed (``RLIMIT_CPU``).
    - ``wall_seconds``: wall time per ``exec`` spent in the worker (time spent serving helper
      calls such as ``llm_query`` on the host does not count); past it the worker is killed.
    - ``scratch_mb``: largest file the code may write (in its private scratch directory).
    - ``max_message_mb``: largest single message the host accepts from the worker.
    - ``start_seconds``: how long the host waits for a new worker to be ready.
    - ``require_landlock``: refuse to run when the kernel has no Landlock (the filesystem
      rules); set False only if you accept that model code can read the host's files.
    """

    memory_mb: int = 512
    cpu_seconds: int = 10
    wall_seconds: float = 30.0
    scratch_mb: int = 64
    max_message_mb: int = 64
    open_files: int = 64
    start_seconds: float = 15.0
    require_landlock: bool = True

    def __post_init__(self) -> None:
        for name in ("memory_mb", "cpu_seconds", "scratch_mb", "max_message_mb", "open_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"isolated backend: {name} must be an int >= 1, got {value!r}")
        for name in ("wall_seconds", "start_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"isolated backend: {name} must be a number > 0, got {value!r}")
        if self.open_files < 16:
            raise ConfigError(
                "isolated backend: open_files must be >= 16 (the interpreter needs some)"
            )
