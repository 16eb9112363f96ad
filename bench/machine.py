"""The machine a benchmark ran on: CPU model, cores, RAM, and the 1-minute load average (another process
using the CPU during a run makes every figure in it pessimistic)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpuinfo_fields(cpuinfo: str | None = None) -> dict[str, str] | None:
    """The first CPU's fields of /proc/cpuinfo (or of ``cpuinfo``); None where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model() -> str:
    return (cpuinfo_fields() or {}).get("model name") or platform.processor() or "unknown"


def cpu_isa(cpuinfo: str | None = None) -> str:
    """CPU family and model and the widest vector units, e.g. "family 25 model 17, AVX-512 with BF16 and VNNI":
    machines sold under one model name ("AMD EPYC") differ by several times in these benchmarks."""
    fields = cpuinfo_fields(cpuinfo)
    if fields is None:
        return "unknown"
    flags = set(fields.get("flags", "").split())
    if "avx512f" in flags:
        extras = [name for flag, name in (("avx512_bf16", "BF16"), ("avx512_vnni", "VNNI")) if flag in flags]
        vector = "AVX-512" + (" with " + " and ".join(extras) if extras else "")
    else:
        vector = "AVX2" if "avx2" in flags else "no AVX2"
    if "amx_bf16" in flags:
        vector += ", AMX"
    family = f"family {fields['cpu family']} model {fields.get('model', '?')}, " if "cpu family" in fields else ""
    return family + vector


def ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_ticks() -> tuple[int, int] | None:
    """(all, idle + iowait) CPU time of the whole machine since boot, in clock ticks (/proc/stat); None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)
    except (OSError, ValueError, IndexError):
        return None


def cpu_busy_cores(seconds: float = 2.0) -> float | None:
    """Cores in use machine-wide right now, from two /proc/stat samples ``seconds`` apart (None off Linux).

    Unlike the 1-minute load average, which still remembers the last minute's work, this says whether
    something is running now."""
    import time

    first = cpu_ticks()
    time.sleep(seconds)
    last = cpu_ticks()
    if first is None or last is None:
        return None
    (total0, idle0), (total1, idle1) = first, last
    elapsed = total1 - total0
    if elapsed <= 0:
        return None
    return round((1 - (idle1 - idle0) / elapsed) * (os.cpu_count() or 1), 2)


def describe() -> dict[str, Any]:
    return {"cpu": cpu_model(), "isa": cpu_isa(), "cores": os.cpu_count() or 1, "ram_gb": ram_gb(),
            "python": platform.python_version(), "platform": platform.platform()}


class OthersCpu:
    """The CPU the rest of the machine used while the bench ran: the machine's busy CPU time (/proc/stat, steal
    included) minus this process's and its finished children's (the servers and peers it started and waited
    for). The load average cannot tell the two apart: the bench's own concurrent sections raise it."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        """(machine busy CPU seconds, own + children CPU seconds, monotonic time), None off Linux."""
        import time

        ticks = cpu_ticks()
        if ticks is None:
            return None
        own = os.times()
        return ((ticks[0] - ticks[1]) / os.sysconf("SC_CLK_TCK"),
                own.user + own.system + own.children_user + own.children_system, time.monotonic())

    def cores(self) -> float | None:
        """Cores the others used on average since this watch was made."""
        end = self._sample()
        if self._start is None or end is None or end[2] <= self._start[2]:
            return None
        others = (end[0] - self._start[0]) - (end[1] - self._start[1])
        return round(max(0.0, others) / (end[2] - self._start[2]), 2)


def busy_note(busy_start: float | None, others: float | None, cores: int) -> str | None:
    """A sentence when something else used the CPU; None on an idle machine.

    ``busy_start``: cores in use before the bench ran anything (half a core or more is someone else);
    ``others``: cores used on average by everything but the bench during the run (OthersCpu; 0.2 or more).
    """
    if (busy_start is not None and busy_start >= 0.5) or (others is not None and others >= 0.2):
        start = f"{busy_start:.2f} cores were in use" if busy_start is not None else "the CPU use was unknown"
        during = f"{others:.2f} cores on average" if others is not None else "an unknown share"
        return (f"Another process was using the CPU: {start} when the bench started, and other processes used "
                f"{during} of the {cores} while it ran. Every figure here is lower than on an idle machine; "
                "ratios between two things measured side by side are more trustworthy than absolute rates.")
    return None
