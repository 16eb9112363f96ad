"""The Ray route measured: deploy/ray/serve.yaml on a real two-node Ray cluster (network namespaces, one
replica per node) behind deploy/haproxy/haproxy.cfg, the same set-up as tests/cluster.

    /work/runs/quiet.sh .venv/bin/python -m bench.ray_cluster [--sections plain,http,streams,crashes]  # root

0. plain: the same load on fer-serve (uvicorn, 1 and 2 worker processes) on 127.0.0.1, no Ray, no balancer.
1. http: POST /predict (the astronaut) through HAProxy at several concurrencies with two replicas, then with one
   (node1 set to maint in HAProxy): requests/s, latency percentiles, errors, which replicas answered.
2. Lockstep WebSocket streams on one replica: its capacity in frames/s (what target_ongoing_requests is
   chosen from: a stream is one ongoing request for its whole life, whatever its frame rate).
3. Crashes: /predict at concurrency 2 while node1 is SIGKILLed; the failover window (last failure after the
   kill), failed requests, and the time until node1, restarted, serves again.
Both nodes share this machine's cores (and the load generator runs on them too): two replicas are two
processes on the same two cores, not two machines. ``--pin`` puts node i on core i only (taskset), which makes
each node a 1-core machine (HAProxy and the client still run on both cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench import machine
from bench.photos import astronaut, jpeg
from bench.server import serving
from bench.stats import percentiles
from bench.websocket_streams import lockstep, summarise
from tests.cluster.deployment import Deployment, serve_behind_haproxy
from tests.cluster.ray_cluster import ray_cluster

log = logging.getLogger("bench.ray_cluster")
RESULTS = Path(__file__).resolve().parent / "results"

Result = tuple[float, float, str, str]  # started (monotonic), latency s, outcome ("ok", status or error), replica


async def _worker(client: httpx.AsyncClient, url: str, data: bytes, stop: float, out: list[Result]) -> None:
    while time.monotonic() < stop:
        t = time.monotonic()
        try:
            r = await client.post(url + "/predict", files={"file": ("a.jpg", data, "image/jpeg")})
            outcome = "ok" if r.status_code == 200 and len(r.json()["faces"]) == 1 else str(r.status_code)
            out.append((t, time.monotonic() - t, outcome, r.headers.get("x-fer-replica", "")))
        except httpx.HTTPError as exc:
            out.append((t, time.monotonic() - t, type(exc).__name__, ""))


async def http_load(url: str, data: bytes, seconds: float, concurrency: int) -> list[Result]:
    out: list[Result] = []
    stop = time.monotonic() + seconds
    # A connection per request: each is balanced by HAProxy on its own, as requests of many clients are.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(_worker(client, url, data, stop, out) for _ in range(concurrency)))
    return out


def summary(results: list[Result], seconds: float) -> dict[str, Any]:
    outcomes = Counter(o for _, _, o, _ in results)
    return {"requests": len(results), "requests_per_s": round(outcomes["ok"] / seconds, 2),
            "latency_ms": percentiles([lat * 1000 for _, lat, o, _ in results if o == "ok"]),
            "errors": sum(n for o, n in outcomes.items() if o != "ok"),
            "replicas": dict(Counter(r for _, _, o, r in results if o == "ok"))}


def throughput(d: Deployment, data: bytes, seconds: float, concurrencies: list[int]) -> dict[str, Any]:
    """Two replicas, then one (node1 in maint), alternating at each concurrency so that a change in the
    machine's background load hits both alike."""
    lb = d.balancer
    out: dict[str, list[dict[str, Any]]] = {"2_replicas": [], "1_replicas": []}
    asyncio.run(http_load(lb.url, data, 3, max(concurrencies)))  # warm-up
    for c in concurrencies:
        for replicas, state in ((2, "ready"), (1, "maint")):
            lb.command(f"set server fer_nodes/node1 state {state}")
            lb.wait_states({"node0": "UP", "node1": "UP" if state == "ready" else "MAINT"}, timeout_s=10)
            row = {"concurrency": c, **summary(asyncio.run(http_load(lb.url, data, seconds, c)), seconds)}
            log.info("%d replica(s), concurrency %d: %s", replicas, c, row)
            out[f"{replicas}_replicas"].append(row)
    return dict(out)


def plain(data: bytes, seconds: float, concurrencies: list[int]) -> dict[str, Any]:
    """fer-serve with 1 and with 2 worker processes, both up at once and measured in turns."""
    out: dict[str, list[dict[str, Any]]] = {"1_workers": [], "2_workers": []}
    env = {"FER_LOG_LEVEL": "warning"}
    with serving(1, env=env) as one, serving(2, env=env) as two:
        for server in (one, two):
            asyncio.run(http_load(server.url, data, 3, max(concurrencies)))
        for c in concurrencies:
            for server in (one, two):
                row = {"concurrency": c, **summary(asyncio.run(http_load(server.url, data, seconds, c)), seconds)}
                row.pop("replicas")
                log.info("fer-serve, %d worker(s), concurrency %d: %s", server.workers, c, row)
                out[f"{server.workers}_workers"].append(row)
    return dict(out)


def stream_capacity(d: Deployment, data: bytes, seconds: float, counts: list[int]) -> list[dict[str, Any]]:
    """node1 is in maint here: every stream lands on node0's replica."""
    rows = []
    for n in counts:
        streams = asyncio.run(_streams(d.balancer.ws_url, data, seconds, n))
        row = summarise(streams)
        row.pop("dropped", None)
        log.info("%d lockstep streams on one replica: %s", n, row)
        rows.append(row)
    return rows


async def _streams(ws_url: str, data: bytes, seconds: float, n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(lockstep(ws_url, data, seconds) for _ in range(n))))


def crash(d: Deployment, data: bytes, before_s: float = 3, after_s: float = 15) -> dict[str, Any]:
    """/predict at concurrency 2 through the balancer; node1 killed ``before_s`` in; then node1 restarted."""

    async def run() -> tuple[list[Result], float]:
        task = asyncio.create_task(http_load(d.balancer.url, data, before_s + after_s, 2))
        await asyncio.sleep(before_s)
        killed_at = time.monotonic()
        d.cluster.kill_node(1)
        return await task, killed_at

    results, killed_at = asyncio.run(run())
    after = [(t - killed_at, o, r) for t, _, o, r in results if t >= killed_at]
    failures = [(round(t, 3), o) for t, o, _ in after if o != "ok"]
    survivor = d.replicas[0]
    restarted_at = time.monotonic()
    d.cluster.start_node(1)
    d.wait_local_replica(1, timeout_s=180)
    d.balancer.wait_states({"node0": "UP", "node1": "UP"}, timeout_s=60)
    row = {"requests_after_kill": len(after), "failed": len(failures), "failures": failures,
           "failover_window_s": max((t for t, _ in failures), default=0.0),
           "answered_by_survivor_after_kill": sum(1 for _, o, r in after if o == "ok" and r == survivor),
           "node_back_serving_s": round(time.monotonic() - restarted_at, 1)}
    log.info("crash: %s", row)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ray_cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="per load level")
    p.add_argument("--concurrency", default="1,2,4,8")
    p.add_argument("--streams", default="1,2,4")
    p.add_argument("--crashes", type=int, default=2)
    p.add_argument("--sections", default="plain,http,streams,crashes")
    p.add_argument("--pin", action="store_true", help="node i on core i only (taskset): nodes as 1-core machines")
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/ray-cluster-<date>-<sections>.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data = jpeg(astronaut())
    report: dict[str, Any] = {"machine": {"cpu": machine.cpu_model(), "cores": os.cpu_count(),
                                          "ram_gb": machine.ram_gb(), "busy_cores_at_start": machine.cpu_busy_cores()},
                              "setup": "2 Ray nodes (1 CPU each) in network namespaces on this one machine, "
                                       "deploy/ray/serve.yaml, HAProxy on 127.0.0.1; client on the same cores",
                              "pinned": args.pin}
    sections = set(args.sections.split(","))
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    if "plain" in sections:
        report["plain"] = plain(data, args.seconds, concurrencies)
    if sections & {"http", "streams", "crashes"}:
        with tempfile.TemporaryDirectory(prefix="fer-bench-cluster-") as tmp:
            started = time.monotonic()
            with ray_cluster(2, Path(tmp), cpus_per_node=1, timeout_s=240, pin=args.pin) as cluster, \
                    serve_behind_haproxy(cluster, Path(tmp)) as d:
                report["startup_s"] = round(time.monotonic() - started, 1)
                if "http" in sections:
                    report["http"] = throughput(d, data, args.seconds, concurrencies)
                if "streams" in sections:
                    d.balancer.command("set server fer_nodes/node1 state maint")
                    d.balancer.wait_states({"node0": "UP", "node1": "MAINT"}, timeout_s=10)
                    report["streams_one_replica"] = stream_capacity(d, data, args.seconds,
                                                                    [int(n) for n in args.streams.split(",")])
                d.balancer.command("set server fer_nodes/node1 state ready")
                d.balancer.wait_states({"node0": "UP", "node1": "UP"}, timeout_s=10)
                if "crashes" in sections:
                    report["crashes"] = [crash(d, data) for _ in range(args.crashes)]
    name = f"ray-cluster-{date.today()}-{args.sections.replace(',', '-')}{'-pinned' if args.pin else ''}.json"
    out = args.out or RESULTS / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
