"""Memory of a server's process tree (the process and its uvicorn workers), read from /proc.

Two measures: summed RSS counts every shared page (onnxruntime, OpenCV, numpy, Python itself) once per
process that maps it, so it overstates a multi-worker server; summed PSS (proportional set size,
/proc/PID/smaps_rollup) splits each shared page between the processes that share it, so it adds up to
the physical memory the tree occupies."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (empty when it is gone)."""
    try:
        kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return kids + [g for k in kids for g in children(k)]


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def _kb_field_mb(path: str, key: str) -> float:
    """The ``key:`` line of a /proc file whose values are in kB, in MB (0 when the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, PermissionError, ProcessLookupError):  # ESRCH: exiting while read
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    """RSS of one process alone, in MB."""
    return _kb_field_mb(f"/proc/{pid}/status", "VmRSS")


def pss_mb(pid: int) -> float:
    """PSS of one process, in MB."""
    return _kb_field_mb(f"/proc/{pid}/smaps_rollup", "Pss")


def tree_rss_mb(pid: int) -> float:
    """Summed RSS of a process and its descendants, in MB."""
    return sum(rss_mb(p) for p in tree(pid))
