"""Training images/s of each candidate network, per engine and precision, on this machine's CPU.

    python -m bench.train_speed [--batches 20] [--json bench/results/train-speed-DATE.json]

Random 48x48 faces and labels (speed does not depend on the pixels), batches of 64, SGD with Nesterov momentum,
one warm-up batch group then ``--batches`` timed; every core. What issue 15 asks to measure before choosing a
network: accuracy per CPU-hour needs the hours, and they come from here (``models/CANDIDATES.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench import machine

BATCH = 64
CANDIDATES = [("keras", "seed_cnn"), ("keras", "vgg_fer"), ("torch", "vgg_fer")]


def keras_images_per_s(arch: str, precision: str, batches: int) -> float:
    import keras

    from training.model import build_model

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    try:
        model = build_model(arch, 7)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                      loss="categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (BATCH * batches, 48, 48, 1)).astype(np.float32)
        y = keras.utils.to_categorical(rng.integers(0, 7, len(x)), 7)
        model.fit(x[:BATCH * 3], y[:BATCH * 3], batch_size=BATCH, epochs=1, verbose=0)
        started = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        return len(x) / (time.perf_counter() - started)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def torch_images_per_s(arch: str, precision: str, batches: int) -> float:
    import torch

    from training.torch_fit import soft_cross_entropy
    from training.torch_model import build_torch_model

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model = build_torch_model(arch, 7).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = (torch.rand(BATCH, 1, 48, 48) * 255).contiguous(memory_format=torch.channels_last)
    y = torch.nn.functional.one_hot(torch.randint(0, 7, (BATCH,)), 7).float()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = soft_cross_entropy(logits.float(), y, 0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    return BATCH * batches / (time.perf_counter() - started)


def run(batches: int = 20) -> dict[str, Any]:
    busy = machine.cpu_busy_cores()  # before anything of ours runs: someone else's work
    rows = []
    for engine, arch in CANDIDATES:
        for precision in ("fp32", "bf16"):
            measure = keras_images_per_s if engine == "keras" else torch_images_per_s
            rate = measure(arch, precision, batches)
            rows.append({"engine": engine, "arch": arch, "precision": precision, "images_per_s": round(rate, 1)})
            print(f"{engine:6s} {arch:9s} {precision}: {rate:6.1f} images/s", flush=True)
    return {"machine": machine.describe(), "cpu_busy_cores_at_start": busy, "batch": BATCH, "batches": batches,
            "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    result = run(args.batches)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
