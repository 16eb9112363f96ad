"""A bounded load-and-soak run in CI (the 60 s version: `python -m bench.soak`)."""

from __future__ import annotations

import pytest

from bench.soak import run_soak, verdict

pytestmark = pytest.mark.slow


def test_short_soak_has_no_server_errors_and_flat_memory(live_server):
    server = live_server()
    report = run_soak(server.url, server.proc.pid, duration=12, concurrency=16, streams=4, warmup=4)
    print(report)
    assert verdict(report) == [], report
    assert report["requests"] > 50
    assert set(report["statuses"]) <= {"200", "400", "415"}  # the mix holds broken input on purpose
    assert report["latency_ms"]["p99"] < 5000
