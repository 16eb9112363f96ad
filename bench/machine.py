"""The machine a benchmark ran on: CPU model, cores, RAM, and the 1-minute load average (another process
using the CPU during a run makes every figure in it pessimistic)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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


def describe() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "ram_gb": ram_gb(), "python": platform.python_version(),
            "platform": platform.platform()}


def busy_note(load_start: float, load_end: float, cores: int) -> str | None:
    """A sentence when the load average says something else used the CPU; None on an idle machine.

    At the start the bench has run nothing yet, so a load of 0.5 or more there is someone else; at the end the
    bench's own work counts too, so only a load above the core count is taken as a sign.
    """
    if load_start >= 0.5 or load_end > cores + 0.5:
        return (f"Another process was using the CPU: the 1-minute load average was {load_start:.2f} at the start "
                f"and {load_end:.2f} at the end on {cores} cores. Every figure here is lower than on an idle machine; "
                "ratios between two things measured side by side are more trustworthy than absolute rates.")
    return None
