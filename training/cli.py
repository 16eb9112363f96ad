"""``fer-train``: inspect | train | evaluate | export | amend. Argument parsing lives here and nowhere else."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

from model_contract import ContractError, CropSpec
from training.calibrate import METHODS
from training.config import AUGMENT_PRESETS, LABEL_SOURCES, TrainConfig
from training.errors import TrainingError

log = logging.getLogger("fer-train")
DATA_ENV = "FER2013_CSV"
FERPLUS_ENV = "FERPLUS_CSV"


def _crop(text: str) -> CropSpec:
    try:
        return CropSpec.parse(text)
    except ContractError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ops(text: str) -> tuple[str, ...]:
    ops = tuple(op.strip() for op in text.split(",") if op.strip())
    if not ops or "Conv" not in ops:
        raise argparse.ArgumentTypeError("a comma-separated list of ONNX op types that includes Conv")
    return ops


def _data_arg(p: argparse.ArgumentParser) -> None:
    default = os.environ.get(DATA_ENV)
    p.add_argument("--data", default=default, required=default is None,
                   help=f"FER2013 CSV (.csv or .csv.gz, Kaggle format); default ${DATA_ENV}")


def _labels_args(p: argparse.ArgumentParser, default: str | None = "fer2013") -> None:
    p.add_argument("--labels", choices=LABEL_SOURCES, default=default,
                   help="fer2013 labels, or FER+ majority votes: ferplus (7 classes) / ferplus8 (+contempt)")
    p.add_argument("--ferplus-csv", default=os.environ.get(FERPLUS_ENV),
                   help=f"FER+ fer2013new.csv for --labels ferplus*; default ${FERPLUS_ENV}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fer-train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="validate a dataset, print counts, draw its distribution and samples")
    _data_arg(p)
    _labels_args(p)
    p.add_argument("--out", type=Path, required=True, help="directory for class_distribution.png, samples.png")

    p = sub.add_parser("train", help="train a model into a run directory (resumable)")
    _data_arg(p)
    _labels_args(p)
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--protocol", choices=("official", "seed"), default="official")
    p.add_argument("--arch", default="seed_cnn")
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine", "plateau"), default="constant")
    p.add_argument("--warmup-epochs", type=int, default=0)
    p.add_argument("--warmup-ramp", choices=("linear", "overshoot"), default="linear",
                   help="overshoot: the torch engine's warm-up before 2026-12-03, which ended at (1 + 1/warm-up "
                        "epochs) x the rate; only to reproduce the VGG models trained with it")
    p.add_argument("--plateau-patience", type=int, default=5)
    p.add_argument("--plateau-factor", type=float, default=0.5, help="LR multiplier on a plateau")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--balance", choices=("oversample", "class_weight", "none"), default="oversample",
                   help="oversample: RandomOverSampler on the training rows only")
    p.add_argument("--augment", choices=sorted(AUGMENT_PRESETS), default="none",
                   help="augmentation preset; the flags below override its values")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None)
    for name, unit in (("rotation", "degrees"), ("shift", "fraction of the side"), ("zoom", "fraction"),
                       ("erasing", "probability")):
        p.add_argument(f"--{name}", type=float, default=None, help=unit)
    p.add_argument("--select", choices=("best", "last"), default=None,
                   help="model kept: best on the selection split (official default) or last epoch (seed default)")
    p.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    p.add_argument("--limit", type=int, default=None, help="stratified subset of N rows, for quick runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--engine", choices=("keras", "torch"), default="keras",
                   help="torch: fit the PyTorch twin of --arch (faster on CPUs with bf16/AMX), export through Keras")
    p.add_argument("--targets", choices=("majority", "votes"), default="majority",
                   help="votes: train on FER+'s vote shares per face (--labels ferplus*, --engine torch)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of the torch engine (default: all cores); speed only, not part of the recipe")
    p.add_argument("--init-from", default=None, metavar="MODEL.onnx",
                   help="start from an exported model's weights (--engine torch; e.g. a FER2013 model for a FER+ "
                        "run: its features, a new head where the labels differ)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep and select an exponential moving average of the weights (--engine torch), e.g. 0.999")

    p = sub.add_parser("evaluate", help="metrics of a .keras or .onnx model on one split")
    p.add_argument("--model", type=Path, required=True)
    _data_arg(p)
    _labels_args(p, default=None)
    p.add_argument("--split", choices=("Training", "PublicTest", "PrivateTest"), default="PrivateTest")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="for .keras models: average with the mirror image (an ONNX file carries its own)")
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("export", help="export a run's model to ONNX with its contract and a model card")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="models/NAME.onnx")
    p.add_argument("--name", default=None, help="model name (default: the file's stem)")
    p.add_argument("--model-version", default="1.0.0")
    p.add_argument("--data", default=None, help="FER2013 CSV for the parity check (default: the run's)")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the calibration on the selection split (PublicTest) and store it")
    _calibration_arg(p)
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="bake test-time augmentation into the ONNX graph (flip: average with the mirror image)")
    p.add_argument("--crop", type=_crop, default=None, metavar="RULE",
                   help="face-crop rule for the service, box|square[:scale[:shift_y]] (python -m bench.crop_eval)")
    p.add_argument("--crop-chosen-for", default=None, metavar="MODEL",
                   help="the model bench.crop_eval chose --crop for, if not this one (the card says so)")
    p.add_argument("--seed-run", type=Path, default=None,
                   help="a seed-protocol run to compare with in the model card")
    p.add_argument("--seed-official-run", type=Path, default=None,
                   help="the same notebook recipe under the official protocol, for the model card")

    p = sub.add_parser("amend", help="re-measure an exported model's crop rule, temperature or latency in place")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", default=os.environ.get(DATA_ENV), help=f"for --calibrate; default ${DATA_ENV}")
    p.add_argument("--ferplus-csv", default=os.environ.get(FERPLUS_ENV), help="for --calibrate of a FER+ model")
    p.add_argument("--crop", type=_crop, default=None, metavar="RULE", help="box|square[:scale[:shift_y]]")
    p.add_argument("--calibrate", action="store_true", help="refit the calibration on the selection split")
    _calibration_arg(p)
    p.add_argument("--latency", action="store_true", help="measure ms per face on this machine")

    p = sub.add_parser("quantize", help="an int8 copy of an exported model, calibrated on Training faces, with its "
                                        "own contract and card")
    p.add_argument("--model", type=Path, required=True, help="models/NAME.onnx (exported by fer-train)")
    p.add_argument("--data", default=os.environ.get(DATA_ENV),
                   help=f"the FER2013 CSV it was trained on; default ${DATA_ENV}")
    p.add_argument("--ferplus-csv", default=os.environ.get(FERPLUS_ENV), help="for a FER+ model")
    p.add_argument("--out", type=Path, required=True, help="models/NAME_int8.onnx")
    p.add_argument("--name", default=None, help="model name (default: the file's stem)")
    p.add_argument("--faces", type=int, default=512, help="Training faces the activation ranges are measured on")
    p.add_argument("--seed", type=int, default=0, help="which Training faces")
    p.add_argument("--ops", type=_ops, default=None, metavar="OP[,OP...]",
                   help="ONNX op types given int8 (default: Conv,Relu,MaxPool; copies made before 2026-12-03: Conv)")
    p.add_argument("--version", default=None, help="the copy's model version (default: its source's)")
    _calibration_arg(p)
    return parser


def _calibration_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration", choices=METHODS, default="isotonic",
                   help="isotonic: the top label's probability mapped by isotonic regression (better on held-out "
                        "PublicTest faces: python -m bench.calibration_cv); temperature: one T (by ECE)")


def train_config(args: argparse.Namespace) -> TrainConfig:
    preset = dict(AUGMENT_PRESETS[args.augment])
    for key in preset:
        value = getattr(args, key)
        if value is not None:
            preset[key] = value
    select = args.select or ("last" if args.protocol == "seed" else "best")
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(preset, select=select)
    return TrainConfig(**values)


def cmd_inspect(args: argparse.Namespace) -> int:
    from training import plots
    from training.sources import load_dataset

    data = load_dataset(args.data, args.labels, args.ferplus_csv)
    counts = data.counts()
    names = data.label_names
    print(f"{args.data}: {len(data):,} rows, sha256 {data.sha256}")
    print(f"{'':>12}" + "".join(f"{n:>11}" for n in names) + f"{'total':>11}")
    for split, row in counts.items():
        print(f"{split:>12}" + "".join(f"{v:>11,}" for v in row) + f"{sum(row):>11,}")
    args.out.mkdir(parents=True, exist_ok=True)
    plots.save(plots.class_distribution(counts, names), args.out / "class_distribution.png")
    plots.save(plots.samples(data.images, data.labels, names), args.out / "samples.png")
    (args.out / "counts.json").write_text(json.dumps({"sha256": data.sha256, "counts": counts}, indent=2) + "\n")
    print(f"wrote {args.out / 'class_distribution.png'} and {args.out / 'samples.png'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from training.train import train

    config = TrainConfig.load(args.out / "config.json") if args.resume else train_config(args)
    metrics = train(config, args.out, resume=args.resume, threads=args.threads)
    report = metrics["splits"][metrics["report_split"]]
    print(f"{metrics['report_split']}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}"
          f" -> {args.out}")
    if metrics.get("leak"):
        leak = metrics["leak"]
        print(f"leak: {leak['test_rows_with_identical_pixels_in_train']:,} of {leak['test_rows']:,} test rows "
              f"({leak['fraction_identical_pixels']:.1%}) have an identical copy in training")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import compute_metrics, load_predictor, write_report
    from training.sources import load_dataset

    predictor = load_predictor(args.model, tta=args.tta)
    labels = args.labels or _model_label_source(predictor)
    data = load_dataset(args.data, labels, args.ferplus_csv)
    if tuple(data.label_names) != tuple(predictor.labels):
        raise ValueError(f"the model's labels {list(predictor.labels)} differ from the data's {list(data.label_names)}")
    positions = data.indices(args.split)
    probs = predictor.predict(data.images[positions])
    metrics = compute_metrics(probs, data.labels[positions], data.label_names, args.split)
    metrics.update(model=str(args.model), dataset_sha256=data.sha256)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_report(metrics, args.out, args.out, probs, data.labels[positions])
    print(f"{args.model} on {args.split} (n={metrics['n']:,}): accuracy {metrics['accuracy']:.4f}, "
          f"macro-F1 {metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f} -> {args.out}")
    return 0


def _model_label_source(predictor: object) -> str:
    contract = getattr(predictor, "contract", None)
    return contract.training.get("label_source", "fer2013") if contract is not None else "fer2013"


def cmd_export(args: argparse.Namespace) -> int:
    from training.export import export_run

    path = export_run(args.run, args.out, name=args.name, version=args.model_version, data=args.data,
                      calibrate=args.calibrate, seed_run=args.seed_run, seed_official_run=args.seed_official_run,
                      tta=args.tta, crop=args.crop, crop_chosen_for=args.crop_chosen_for,
                      calibration=args.calibration)
    print(f"exported {path} (+ {path.with_suffix('.md').name})")
    return 0


def cmd_amend(args: argparse.Namespace) -> int:
    from training.amend import amend

    contract = amend(args.model, args.data, args.crop, args.calibrate, args.latency, args.ferplus_csv,
                     args.calibration)
    latency = contract.training.get("latency") or {}
    print(f"amended {args.model}: crop {contract.crop.shape} x{contract.crop.scale:g} ({contract.crop.shift_y:+g}), "
          f"T={contract.temperature:g}, {latency.get('ms_per_face', '?')} ms per face")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from training.quantize import OPS, quantize

    if not args.data:
        raise TrainingError(f"--data (or ${DATA_ENV}): the FER2013 CSV the model was trained on")
    if args.faces < 1:
        raise TrainingError("--faces must be at least 1")
    contract = quantize(args.model, args.data, args.out, args.name, args.faces, args.seed, args.ferplus_csv,
                        args.calibration, ops=args.ops or OPS, version=args.version)
    public = contract.training["metrics"]["PublicTest"]["accuracy"]
    print(f"quantized {args.model} -> {args.out} (+ {args.out.with_suffix('.md').name}): PublicTest {public:.4f}, "
          f"{contract.training['latency']['ms_per_face']} ms per face")
    return 0


COMMANDS = {"inspect": cmd_inspect, "train": cmd_train, "evaluate": cmd_evaluate, "export": cmd_export,
            "amend": cmd_amend, "quantize": cmd_quantize}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        return COMMANDS[args.command](args)
    except (TrainingError, ValueError, FileNotFoundError) as exc:
        print(f"fer-train {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
