#!/usr/bin/env bash
# SMOKE_CHECK for the container: POST a real face photo to /predict and fail unless exactly one face
# with one of the model's own labels comes back. Usage: smoke-predict.sh [BASE_URL] [PHOTO]
set -euo pipefail
BASE=${1:-http://127.0.0.1:8000}
PHOTO=${2:-/tmp/fer-smoke-astronaut.jpg}
labels=$(curl -sf "$BASE/v1/model")
answer=$(curl -sf -F "file=@$PHOTO;type=image/jpeg" "$BASE/predict")
python3 - "$labels" "$answer" <<'PY'
import json, sys
labels = json.loads(sys.argv[1])["labels"]
answer = json.loads(sys.argv[2])
faces = answer["faces"]
assert len(faces) == 1, f"expected exactly one face, got {len(faces)}: {answer}"
face = faces[0]
assert face["emotion"] in labels, f"{face['emotion']!r} is not one of {labels}"
assert abs(sum(face["probabilities"].values()) - 1) < 1e-4, face["probabilities"]
print(f"smoke: one face {face['box']} -> {face['emotion']} ({face['confidence']:.2f})")
PY
