"""The model contract: the ONE description of a model's input, output, labels and provenance.

It travels inside the ONNX file as JSON metadata (key ``fer_contract``); training writes it, the
service and the evaluator read it. Pure Python + numpy, so the service never needs TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

METADATA_KEY = "fer_contract"
SCHEMA_VERSION = 1

Colour = Literal["gray", "rgb", "bgr"]
OutputKind = Literal["probabilities", "logits"]
_CHANNELS = {"gray": 1, "rgb": 3, "bgr": 3}


class ContractError(ValueError):
    """The contract is missing, malformed, or does not match the model it describes."""


@dataclass(frozen=True)
class InputSpec:
    name: str = "image"
    height: int = 48
    width: int = 48
    channels: int = 1
    colour: Colour = "gray"
    layout: Literal["NHWC"] = "NHWC"
    dtype: Literal["float32"] = "float32"
    value_min: float = 0.0
    value_max: float = 255.0


@dataclass(frozen=True)
class OutputSpec:
    name: str = "probabilities"
    kind: OutputKind = "probabilities"


@dataclass(frozen=True)
class CropSpec:
    """How a face is cut out around a face detector's box before it is resized to the input.

    ``box``: the detector's box as it is (stretched to the input's aspect). ``square``: a square of side
    ``scale`` x max(w, h) about the box centre moved down by ``shift_y`` x side (FER2013's faces are square
    crops). Parts outside the image repeat its border. Chosen per model on PublicTest faces placed in frames
    (bench/crop_eval.py), with the service's default detector.
    """

    shape: Literal["box", "square"] = "box"
    scale: float = 1.0
    shift_y: float = 0.0

    @classmethod
    def parse(cls, text: str) -> CropSpec:
        """'box', 'square', 'square:1.1' or 'square:1.1:-0.025' (shape:scale:shift_y)."""
        parts = text.split(":")
        if len(parts) > 3 or parts[0] not in ("box", "square"):
            raise ContractError(f"a crop rule is box|square[:scale[:shift_y]], got {text!r}")
        try:
            numbers = [float(v) for v in parts[1:]]
        except ValueError:
            raise ContractError(f"a crop rule's scale and shift_y are numbers, got {text!r}") from None
        crop = cls(parts[0], *numbers)  # type: ignore[arg-type]
        _validate_crop(crop)
        return crop

    def region(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the region to cut for a detector box; it may reach outside the image."""
        if self.shape == "box":
            cx, cy = x + w / 2, y + h / 2
            rw, rh = w * self.scale, h * self.scale
            return cx - rw / 2, cy - rh / 2 + self.shift_y * rh, rw, rh
        side = self.scale * max(w, h)
        cx, cy = x + w / 2, y + h / 2 + self.shift_y * side
        return cx - side / 2, cy - side / 2, side, side


@dataclass(frozen=True)
class ConfidenceMap:
    """Top-label calibration (a binning method): the top label's probability p is replaced by f(p), f the
    non-decreasing piecewise-linear function through the knots (x, y), flat beyond them (isotonic regression of
    "the top label is right" on p, fitted on the selection split: training/calibrate.py); the other labels keep
    their proportions and share 1 - f(p). f(p) never drops below the point where the second label would overtake,
    so no prediction changes, only the confidence."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, probs: np.ndarray) -> np.ndarray:
        q = np.asarray(probs, dtype=np.float64)
        if q.shape[-1] < 2 or q.size == 0:
            return q
        rows, top = np.arange(len(q)), q.argmax(axis=-1)
        p = q[rows, top]
        others = q.copy()
        others[rows, top] = 0.0
        rest = others.sum(axis=-1)  # not 1 - p, which is 0 in floating point for a very sure answer
        nothing = rest <= 0.0
        others[nothing] = 1.0 / (q.shape[-1] - 1)  # all the mass on the top label: the rest share equally
        others[nothing, top[nothing]] = 0.0
        rest = np.where(nothing, 1.0, rest)
        second = others.max(axis=-1)
        level = second / (rest + second)  # where the second label would catch up: stay just above it
        new = np.clip(np.interp(p, self.x, self.y), level + 1e-9, 1.0 - 1e-6)
        out = others * ((1.0 - new) / rest)[:, None]
        out[rows, top] = new
        return out


@dataclass(frozen=True)
class ModelContract:
    name: str
    version: str
    labels: tuple[str, ...]
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    # Temperature scaling: probabilities = softmax(logits / temperature). 1.0 means uncalibrated.
    temperature: float = 1.0
    crop: CropSpec = field(default_factory=CropSpec)
    # Applied after the temperature, when present (ConfidenceMap).
    confidence_map: ConfidenceMap | None = None
    # Provenance: protocol, dataset sha256, label source, architecture, metrics per split, ...
    training: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _validate(self)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelContract:
        if not isinstance(d, Mapping):
            raise ContractError("model contract must be a JSON object")
        try:
            version = d.get("schema_version", SCHEMA_VERSION)
            if version != SCHEMA_VERSION:
                raise ContractError(f"unsupported contract schema_version {version!r} (expected {SCHEMA_VERSION})")
            return cls(
                name=d["name"],
                version=d["version"],
                labels=tuple(d["labels"]),
                input=InputSpec(**d.get("input", {})),
                output=OutputSpec(**d.get("output", {})),
                temperature=d.get("temperature", 1.0),
                crop=CropSpec(**d.get("crop", {})),
                confidence_map=_confidence_map(d.get("confidence_map")),
                training=dict(d.get("training", {})),
                schema_version=version,
            )
        except KeyError as exc:
            raise ContractError(f"model contract is missing the field {exc.args[0]!r}") from None
        except TypeError as exc:  # unknown keys in input/output, wrong types for labels
            raise ContractError(f"model contract is malformed: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"model contract is not valid JSON: {exc.msg} at position {exc.pos}") from None
        return cls.from_dict(data)

    def with_updates(self, **changes: Any) -> ModelContract:
        return replace(self, **changes)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """The model's raw outputs as calibrated probabilities: temperature, then the confidence map if any."""
        probs = to_probabilities(outputs, self.output.kind, self.temperature)
        return probs if self.confidence_map is None else self.confidence_map.apply(probs)

    # -- checks against a real model ----------------------------------------------------------
    def check_io(self, input_shape: Sequence[Any], output_shape: Sequence[Any]) -> None:
        """Raise ContractError unless the model's declared shapes match this contract.

        Symbolic (named or None) dimensions are accepted for the batch axis only.
        """
        spec = self.input
        expected_in = (spec.height, spec.width, spec.channels)
        if len(input_shape) != 4 or tuple(input_shape[1:]) != expected_in:
            raise ContractError(
                f"model input shape {list(input_shape)} does not match the contract "
                f"[batch, {spec.height}, {spec.width}, {spec.channels}]"
            )
        if len(output_shape) != 2 or output_shape[1] != len(self.labels):
            raise ContractError(
                f"model output shape {list(output_shape)} does not match the contract's "
                f"{len(self.labels)} labels"
            )


def _validate(c: ModelContract) -> None:
    if not isinstance(c.name, str) or not c.name:
        raise ContractError("contract name must be a non-empty string")
    if not isinstance(c.version, str) or not c.version:
        raise ContractError("contract version must be a non-empty string")
    labels = c.labels
    if len(labels) < 2 or not all(isinstance(lb, str) and lb for lb in labels):
        raise ContractError("contract labels must be at least two non-empty strings")
    if len(set(labels)) != len(labels):
        raise ContractError(f"contract labels must be unique, got {list(labels)}")
    spec = c.input
    for dim in ("height", "width", "channels"):
        value = getattr(spec, dim)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ContractError(f"contract input {dim} must be a positive integer, got {value!r}")
    if spec.colour not in _CHANNELS:
        raise ContractError(f"contract input colour must be one of {sorted(_CHANNELS)}, got {spec.colour!r}")
    if _CHANNELS[spec.colour] != spec.channels:
        raise ContractError(f"contract colour {spec.colour!r} needs {_CHANNELS[spec.colour]} channel(s)")
    if spec.layout != "NHWC" or spec.dtype != "float32":
        raise ContractError("contract input must be NHWC float32")
    if not (math.isfinite(spec.value_min) and math.isfinite(spec.value_max) and spec.value_min < spec.value_max):
        raise ContractError("contract input value range must be finite with value_min < value_max")
    if c.output.kind not in ("probabilities", "logits"):
        raise ContractError(f"contract output kind must be 'probabilities' or 'logits', got {c.output.kind!r}")
    _validate_crop(c.crop)
    t = c.temperature
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
        raise ContractError(f"contract temperature must be a positive number, got {t!r}")
    if c.confidence_map is not None:
        _validate_map(c.confidence_map)


def _confidence_map(d: Any) -> ConfidenceMap | None:
    if d is None:
        return None
    if not isinstance(d, Mapping) or set(d) != {"x", "y"}:
        raise ContractError("contract confidence_map must be an object with the knots x and y")
    return ConfidenceMap(tuple(float(v) for v in d["x"]), tuple(float(v) for v in d["y"]))


def _validate_map(m: ConfidenceMap) -> None:
    x, y = np.asarray(m.x, dtype=np.float64), np.asarray(m.y, dtype=np.float64)
    if len(x) < 1 or len(x) != len(y) or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ContractError("contract confidence_map needs as many finite x as y knots, at least one")
    if (np.diff(x) < 0).any() or (np.diff(y) < 0).any() or x.min() < 0 or x.max() > 1 or y.min() < 0 or y.max() > 1:
        raise ContractError("contract confidence_map knots must be non-decreasing and within [0, 1]")


def _validate_crop(crop: CropSpec) -> None:
    if crop.shape not in ("box", "square"):
        raise ContractError(f"contract crop shape must be 'box' or 'square', got {crop.shape!r}")
    if not (isinstance(crop.scale, int | float) and math.isfinite(crop.scale) and 0.25 <= crop.scale <= 4.0):
        raise ContractError(f"contract crop scale must be a number from 0.25 to 4, got {crop.scale!r}")
    if not (isinstance(crop.shift_y, int | float) and math.isfinite(crop.shift_y) and abs(crop.shift_y) <= 0.5):
        raise ContractError(f"contract crop shift_y must be a number from -0.5 to 0.5, got {crop.shift_y!r}")


# -- ONNX metadata -------------------------------------------------------------------------------
def read_contract(metadata: Mapping[str, str]) -> ModelContract:
    """Read the contract from ONNX metadata (onnxruntime's ``custom_metadata_map`` or onnx's props)."""
    if METADATA_KEY not in metadata:
        raise ContractError(f"the model has no '{METADATA_KEY}' metadata: it was not exported by fer-train")
    return ModelContract.from_json(metadata[METADATA_KEY])


def write_contract(model_proto: Any, contract: ModelContract) -> None:
    """Store the contract in an ``onnx.ModelProto``'s metadata_props (replacing any earlier one)."""
    props = model_proto.metadata_props
    for i in reversed(range(len(props))):
        if props[i].key == METADATA_KEY:
            del props[i]
    entry = props.add()
    entry.key = METADATA_KEY
    entry.value = contract.to_json()


# -- reading outputs ------------------------------------------------------------------------------
def to_probabilities(outputs: np.ndarray, kind: OutputKind, temperature: float = 1.0) -> np.ndarray:
    """Turn the model's raw outputs into (temperature-scaled) probabilities, rows summing to 1."""
    x = np.asarray(outputs, dtype=np.float64)
    if kind == "probabilities":
        if temperature == 1.0:
            return x / x.sum(axis=-1, keepdims=True)
        # log(softmax(z)) = z - logsumexp(z): a shift per row, which softmax ignores.
        x = np.log(np.clip(x, 1e-12, None))
    z = x / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
