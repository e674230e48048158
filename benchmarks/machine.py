"""What a benchmark reports about the machine it ran on: CPU time of processes and of the whole machine
(Linux /proc; figures are absent elsewhere), the load, the cores, the CPU and package versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path

CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def _stat_after_name(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [0] state, [3] session, [11] utime, [12] stime."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still there."""
    found = {}
    for pid in pids:
        fields = _stat_after_name(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def session_members(session_id: int) -> list[int]:
    """A server's gunicorn master and workers: every process in the session it was started in."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat_after_name(entry)
                if fields is not None and int(fields[3]) == session_id:
                    members.append(int(entry))
    return members


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine, all cores, in clock ticks."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


def load_average() -> str:
    """The 1-minute load average, for the report header ('?' where the OS has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def version(distribution: str) -> str:
    """An installed distribution's version, for the report header."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('?' elsewhere)."""
    with contextlib.suppress(OSError):
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.startswith("model name"):
                return text_line.split(":", 1)[1].strip()
    return "?"


def usable_cores() -> int | None:
    """Cores this process may run on (its affinity), which can be fewer than the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
