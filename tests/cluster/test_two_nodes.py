"""The service on a real two-node Ray cluster behind HAProxy (the ``deployment`` fixture of conftest.py).

The tests share one deployment and run in file order; the last one kills a node. About 2 minutes on the
2-core machine (most of it Ray and the replicas starting).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.cluster.deployment import Deployment
from tests.service.conftest import ASTRONAUT_FACE, iou

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FAILOVER_BOUND_S = 10.0  # after a crash, requests fail at most this long (measured: README "Scaling out")
OBSERVE_S = 18.0  # requests keep going this long after the crash


@pytest.fixture(scope="module")
def reference(astronaut_jpeg: bytes) -> dict[str, float]:
    """The astronaut's probabilities from the shipped model in this process: what every replica must answer."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app()) as client:
        r = client.post("/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    probabilities: dict[str, float] = r.json()["faces"][0]["probabilities"]
    return probabilities


def predict(url: str, jpeg: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/predict", files={"file": ("a.jpg", jpeg, "image/jpeg")}, timeout=timeout)


def assert_astronaut(body: dict, reference: dict[str, float], exact: bool = True) -> None:
    """One face where the astronaut's is, with the reference's probabilities (``exact``) or its emotion (a
    stream's later frames may be smoothed over time)."""
    faces = body["faces"]
    assert len(faces) == 1 and iou(faces[0]["box"], ASTRONAUT_FACE) >= 0.5, faces
    if exact:
        for label, p in reference.items():
            assert faces[0]["probabilities"][label] == pytest.approx(p, abs=1e-5)
    assert faces[0]["emotion"] == max(reference, key=reference.__getitem__)


def replica_of(ws: ClientConnection) -> str:
    """The replica that accepted the stream: X-FER-Replica on the handshake's response."""
    return ws.response.headers["x-fer-replica"]


def stream_frame(ws: ClientConnection, jpeg: bytes, reference: dict[str, float]) -> None:
    ws.send(jpeg)
    answer = json.loads(ws.recv(timeout=30))
    assert answer["type"] == "prediction", answer
    assert_astronaut(answer, reference, exact=False)


def processed_frames(deployment: Deployment) -> dict[str, float]:
    """Each replica's fer_stream_frames{outcome="processed"}, scraped through its own node's proxy."""
    counts = {}
    for node in deployment.cluster.nodes:
        r = httpx.get(deployment.node_url(node) + "/metrics", timeout=10)
        assert r.headers["x-fer-replica"] == deployment.replicas[node.index]  # the local replica answered
        match = re.search(r'^fer_stream_frames_total\{outcome="processed"\} (\S+)$', r.text, re.M)
        assert match, r.text[:500]
        counts[deployment.replicas[node.index]] = float(match.group(1))
    return counts


@contextmanager
def stream_on(deployment: Deployment, replica: str) -> Iterator[ClientConnection]:
    """A stream through the balancer that landed on ``replica`` (leastconn alternates between idle nodes)."""
    with ExitStack() as streams:
        for _ in range(6):
            ws = streams.enter_context(connect(deployment.balancer.ws_url + "/ws/stream", open_timeout=30))
            if replica_of(ws) == replica:
                yield ws
                return
            ws.close()
    pytest.fail(f"no stream through the balancer reached {replica}")


def test_predict_through_the_balancer_is_answered_correctly_by_both_replicas(deployment, astronaut_jpeg, reference):
    seen = set()
    for _ in range(8):
        r = predict(deployment.balancer.url, astronaut_jpeg)
        assert r.status_code == 200, r.text
        assert_astronaut(r.json(), reference)
        seen.add(r.headers["x-fer-replica"])
    assert seen == set(deployment.replicas.values()), deployment.logs()
    # /metrics behind the balancer answers for one replica, and says which (the same as the header).
    r = httpx.get(deployment.balancer.url + "/metrics", timeout=10)
    assert f'fer_replica_info{{replica="{r.headers["x-fer-replica"]}"}} 1.0' in r.text


def test_a_stream_stays_on_one_replica(deployment, astronaut_jpeg, reference):
    before = processed_frames(deployment)
    with connect(deployment.balancer.ws_url + "/ws/stream", open_timeout=30) as ws:
        replica = replica_of(ws)
        for _ in range(6):
            stream_frame(ws, astronaut_jpeg, reference)
    after = processed_frames(deployment)
    other = next(name for name in after if name != replica)
    assert after[replica] - before[replica] == 6
    assert after[other] == before[other]


def test_a_drained_node_finishes_its_streams_and_takes_no_new_requests(deployment, astronaut_jpeg, reference):
    lb = deployment.balancer
    draining, staying = deployment.replicas[1], deployment.replicas[0]
    with stream_on(deployment, draining) as ws:
        stream_frame(ws, astronaut_jpeg, reference)
        lb.command("set server fer_nodes/node1 state drain")
        lb.wait_states({"node0": "UP", "node1": "DRAIN"}, timeout_s=10)
        answered_by = {predict(lb.url, astronaut_jpeg).headers["x-fer-replica"] for _ in range(6)}
        assert answered_by == {staying}
        for _ in range(3):  # the open stream is not cut by the drain
            stream_frame(ws, astronaut_jpeg, reference)
    lb.command("set server fer_nodes/node1 state ready")
    lb.wait_states({"node0": "UP", "node1": "UP"}, timeout_s=10)
    answered_by = {predict(lb.url, astronaut_jpeg).headers["x-fer-replica"] for _ in range(6)}
    assert answered_by == set(deployment.replicas.values())


@dataclass
class RequestLog:
    """Sequential /predict through the balancer from a thread: (monotonic time, status or error, replica)."""

    url: str
    jpeg: bytes
    results: list[tuple[float, str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                r = predict(self.url, self.jpeg, timeout=10)
                outcome = str(r.status_code) if r.status_code != 200 or len(r.json()["faces"]) != 1 else "ok"
                self.results.append((t, outcome, r.headers.get("x-fer-replica", "")))
            except httpx.HTTPError as exc:
                self.results.append((t, type(exc).__name__, ""))


def test_a_node_crash_closes_its_streams_and_the_survivor_takes_over(deployment, astronaut_jpeg, reference):
    lb = deployment.balancer
    survivor, victim = deployment.replicas[0], deployment.replicas[1]
    load = RequestLog(lb.url, astronaut_jpeg)
    worker = threading.Thread(target=load.run, daemon=True)
    with stream_on(deployment, victim) as doomed, stream_on(deployment, survivor) as kept:
        stream_frame(doomed, astronaut_jpeg, reference)
        stream_frame(kept, astronaut_jpeg, reference)
        worker.start()
        time.sleep(2)
        killed_at = time.monotonic()
        assert deployment.cluster.kill_node(1), "node 1 had no processes to kill"

        # The crashed node's stream ends promptly with a close (HAProxy sees the reset and closes the client
        # side) instead of hanging until a timeout.
        with pytest.raises(ConnectionClosed):
            for _ in range(3):
                stream_frame(doomed, astronaut_jpeg, reference)
        stream_closed_s = time.monotonic() - killed_at
        assert stream_closed_s < 10
        log.info("the crashed node's stream closed %.2f s after the kill", stream_closed_s)
        # The survivor's stream goes on through the crash, and a new stream lands on the survivor.
        for _ in range(3):
            stream_frame(kept, astronaut_jpeg, reference)
    with connect(lb.ws_url + "/ws/stream", open_timeout=30) as ws:
        assert replica_of(ws) == survivor
        stream_frame(ws, astronaut_jpeg, reference)

    time.sleep(max(0.0, killed_at + OBSERVE_S - time.monotonic()))
    load.stop.set()
    worker.join(timeout=30)
    after = [(t - killed_at, outcome, replica) for t, outcome, replica in load.results if t >= killed_at]
    failures = [(round(t, 2), outcome) for t, outcome, _ in after if outcome != "ok"]
    log.info("%d requests after the kill, failed: %s", len(after), failures)
    assert all(t < FAILOVER_BOUND_S for t, _ in failures), f"failures after the crash: {failures}\n{deployment.logs()}"
    settled = [(outcome, replica) for t, outcome, replica in after if t >= FAILOVER_BOUND_S]
    assert len(settled) >= 10, f"only {len(settled)} requests after the failover bound"
    assert all(outcome == "ok" and replica == survivor for outcome, replica in settled), settled
    assert lb.server_states()["node1"].startswith("DOWN"), lb.server_states()
