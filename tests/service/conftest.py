"""Service test factories: small ONNX models with a real contract (no TensorFlow), real face photos,
apps built from Settings, and a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from bench.server import free_port
from model_contract import ConfidenceMap, InputSpec, ModelContract, OutputSpec, write_contract

FER_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
ASTRONAUT_FACE = (177, 67, 96, 96)  # x, y, w, h of the one face in skimage.data.astronaut()
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = ROOT / "models" / "fer2013_seed_cnn.onnx"


def build_onnx(path: Path, labels: tuple[str, ...] = FER_LABELS, side: int = 48, channels: int = 1,
               contract: ModelContract | bool | None = True, out_classes: int | None = None,
               temperature: float = 1.0, name: str = "tiny-test-model",
               training: dict[str, Any] | None = None, confidence_map: ConfidenceMap | None = None) -> Path:
    """A tiny real ONNX classifier: mean brightness -> linear -> softmax, with a fer_contract.

    ``contract=False`` writes no metadata; a ModelContract writes that one (e.g. a mismatched one).
    """
    import onnx
    from onnx import TensorProto, helper

    n = out_classes or len(labels)
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, size=(1, n)).astype(np.float32)
    bias = np.linspace(-0.5, 0.5, n).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Unsqueeze", ["mean", "one"], ["mean2d"]),
            helper.make_node("MatMul", ["mean2d", "weight"], ["logits0"]),
            helper.make_node("Add", ["logits0", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", side, side, channels])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n])],
        initializer=[
            helper.make_tensor("one", TensorProto.INT64, [1], [1]),
            helper.make_tensor("weight", TensorProto.FLOAT, [1, n], weight.ravel()),
            helper.make_tensor("bias", TensorProto.FLOAT, [n], bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if contract is True:
        colour = "gray" if channels == 1 else "rgb"
        contract = ModelContract(
            name=name, version="0.0.1", labels=labels,
            input=InputSpec(height=side, width=side, channels=channels, colour=colour),
            output=OutputSpec(kind="probabilities"), temperature=temperature, confidence_map=confidence_map,
            training=training or {"protocol": "official", "metrics": {"PrivateTest": {"accuracy": 0.5}}},
        )
    if isinstance(contract, ModelContract):
        write_contract(model, contract)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return build_onnx(tmp_path / "tiny.onnx")


def encode(rgb: np.ndarray, fmt: str = "JPEG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(rgb)
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def iou(a: dict[str, int] | tuple[int, ...], b: tuple[int, ...]) -> float:
    ax, ay, aw, ah = (a["x"], a["y"], a["w"], a["h"]) if isinstance(a, dict) else a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


@pytest.fixture
def make_app(tiny_model: Path) -> Callable[..., Any]:
    """make_app(**settings) -> a fresh FastAPI app (the tiny model unless model_path is given)."""
    from service.app import create_app
    from service.config import Settings

    def make(**overrides: Any) -> Any:
        return create_app(Settings(**{"model_path": tiny_model, **overrides}))

    return make


@pytest.fixture
def client(make_app: Callable[..., Any]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as c:
        yield c


def post_image(client: Any, data: bytes, name: str = "face.jpg", content_type: str = "image/jpeg",
               **params: Any) -> Any:
    return client.post("/predict", files={"file": (name, data, content_type)}, params=params)


class LiveServer:
    """A real `fer-serve` process on 127.0.0.1 (uvicorn, real sockets)."""

    def __init__(self, model: Path | None, env: dict[str, str] | None = None, workers: int = 1) -> None:
        """``model``: serve that file only (FER_MODEL_PATH); None: what FER_MODELS_DIR / FER_MODELS in ``env`` say."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if k != "FER_MODEL_PATH"}
        full_env.update({"FER_MODEL_PATH": str(model)} if model is not None else {}, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--port", str(self.port), "--workers", str(workers)],
            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        # Drain the log pipe as the server writes: an undrained pipe fills at 64 KiB (a few hundred
        # access-log lines under load) and then blocks the server's event loop on its next log write.
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self._lines.append(line)

    def wait(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not up on {self.url}{path}:\n{self.output()}")

    def stop(self) -> str:
        """Stop the server (SIGTERM, as an orchestrator would) and return everything it logged."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        self._reader.join(timeout=10)
        return "".join(self._lines)


@pytest.fixture
def live_server(tiny_model: Path) -> Callable[..., LiveServer]:
    servers: list[LiveServer] = []

    def start(model: Path | None = None, ready: bool = True, **env: str) -> LiveServer:
        server = LiveServer(None if "FER_MODELS_DIR" in env else model or tiny_model, env)
        servers.append(server)
        server.wait("/readyz" if ready else "/healthz")
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        server.stop()
