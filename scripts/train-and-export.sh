#!/bin/sh
# Entry point of the `train` image: train (or resume) a run in $OUT/run, then export it to $OUT/model.onnx.
# Extra arguments go to `fer-train train` (e.g. --epochs 60 --augment light). Data: $DATA (a mounted file).
set -eu
DATA=${DATA:-/data/fer2013.csv.gz}
OUT=${OUT:-/out}
if [ -f "$OUT/run/checkpoints/state.json" ]; then
  fer-train train --resume --out "$OUT/run" --data "$DATA"
else
  fer-train train --data "$DATA" --out "$OUT/run" "$@"
fi
fer-train export --run "$OUT/run" --out "$OUT/model.onnx" --data "$DATA"
