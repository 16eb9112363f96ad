"""Start a torch run from a shipped ONNX model's weights (``fer-train train --init-from models/NAME.onnx``).

The shipped file is the only artefact a later run can count on (run directories live outside git). tf2onnx
folded every BatchNorm into the convolution before it (weight ``W * s``, bias ``b``: ``BN(conv(x)) =
conv_s(x) + b``), so the twin gets the folded weights and a BatchNorm that reproduces ``z + b`` exactly in eval
mode and, with the statistics of ``z`` measured on the run's training faces, nearly so in train mode:
running mean ``m``, variance ``v``, scale ``sqrt(v + eps)``, shift ``m + b``.

The dense layers are copied too; the last one only when the labels are the same (a FER2013 model warm-starting
a FER+ run keeps its features and gets a new, randomly initialised head).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.errors import TrainingError

_CONV = re.compile(r"/(s\d_conv\d)_\d+/convolution/merged_input:0$")
_SHIFT = re.compile(r"/(s\d_bn\d)_\d+/batchnorm/sub:0$")
_DENSE = re.compile(r"/(fc\d|probabilities)_\d+/(Cast/ReadVariableOp|BiasAdd/ReadVariableOp):0$")
STAT_FACES = 2048  # training faces the BatchNorm statistics are measured on


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx's DecodeError and OSError
        raise TrainingError(f"--init-from {path}: not a readable ONNX file ({type(exc).__name__})") from None


def onnx_weights(proto: Any) -> dict[str, np.ndarray]:
    """The folded conv weights and shifts and the dense weights of an exported vgg_fer, by Keras layer name."""
    from onnx import numpy_helper

    found: dict[str, np.ndarray] = {}
    for tensor in proto.graph.initializer:
        if (m := _CONV.search(tensor.name)) or (m := _SHIFT.search(tensor.name)):
            found[m[1]] = numpy_helper.to_array(tensor)
        elif m := _DENSE.search(tensor.name):
            found[f"{m[1]}.{'kernel' if m[2].startswith('Cast') else 'bias'}"] = numpy_helper.to_array(tensor)
    return found


def start_from(path: Path, model: nn.Module, faces: np.ndarray, labels: tuple[str, ...]) -> tuple[int, str]:
    """Warm-start ``model`` from the exported model at ``path`` (its head too when its labels are ``labels``);
    (tensors copied, the file's sha256)."""
    from model_contract import ContractError, read_contract

    if not path.is_file():
        raise TrainingError(f"--init-from {path}: no such file")
    proto = _load(path)
    try:
        theirs = read_contract({p.key: p.value for p in proto.metadata_props}).labels
    except ContractError as exc:
        raise TrainingError(f"--init-from {path}: {exc}") from None
    copied = _copy(model, onnx_weights(proto), path, faces, same_labels=tuple(theirs) == tuple(labels))
    return copied, file_sha256(path)


def warm_start(model: nn.Module, path: Path, faces: np.ndarray, same_labels: bool) -> int:
    """Load ``path``'s weights into a VggFer twin; return how many tensors were copied. ``faces``: (N, 48, 48)
    uint8 training faces for the BatchNorm statistics."""
    return _copy(model, onnx_weights(_load(path)), path, faces, same_labels)


def _copy(model: nn.Module, weights: dict[str, np.ndarray], path: Path, faces: np.ndarray, same_labels: bool) -> int:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    denses = [m for m in model.modules() if isinstance(m, nn.Linear)]
    conv_names = [f"s{stage}_conv{i}" for stage in range(1, len(convs) // 2 + 1) for i in (1, 2)]
    shift_names = [n.replace("conv", "bn") for n in conv_names]
    dense_names = [f"fc{i}" for i in range(1, len(denses))] + ["probabilities"]
    wanted = conv_names + shift_names + [f"{n}.kernel" for n in dense_names[:-1]]
    missing = [n for n in wanted if n not in weights]
    if missing:
        raise TrainingError(f"--init-from {path}: not an exported {type(model).__name__} "
                            f"(missing {', '.join(missing[:3])})")
    copied = 0
    with torch.no_grad():
        for conv, name in zip(convs, conv_names, strict=True):
            _assign(conv.weight, weights[name], path, name)
            copied += 1
        for norm, name in zip(norms, shift_names, strict=True):
            # eval mode gives z + shift for any statistics with weight = sqrt(var + eps), bias = mean + shift
            norm.running_mean.zero_()  # type: ignore[union-attr]
            norm.running_var.fill_(1.0)  # type: ignore[union-attr]
            norm.weight.fill_(float(np.sqrt(1.0 + norm.eps)))
            _assign(norm.bias, weights[name], path, name)
            copied += 1
        heads = dense_names if same_labels else dense_names[:-1]
        for dense, name in zip(denses, heads, strict=False):
            _assign(dense.weight, weights[f"{name}.kernel"].T, path, name)
            _assign(dense.bias, weights[f"{name}.bias"], path, name)
            copied += 2
        _measure_statistics(model, norms, faces)
    return copied


def _assign(param: torch.Tensor, value: np.ndarray, path: Path, name: str) -> None:
    if tuple(param.shape) != value.shape:
        raise TrainingError(f"--init-from {path}: {name} is {value.shape}, this network needs {tuple(param.shape)}")
    param.copy_(torch.from_numpy(np.array(value, dtype=np.float32)))


def _measure_statistics(model: nn.Module, norms: list[nn.BatchNorm2d], faces: np.ndarray) -> None:
    """Set each BatchNorm's statistics to those of its input on ``faces``, keeping its eval-mode function."""
    sums: dict[int, list[torch.Tensor]] = {id(n): [] for n in norms}

    def record(norm: nn.Module, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
        z = inputs[0].double()
        sums[id(norm)].append(torch.stack([z.sum((0, 2, 3)), (z * z).sum((0, 2, 3)),
                                           torch.full_like(z[0, :, 0, 0], z.numel() / z.shape[1])]))

    hooks = [n.register_forward_hook(record) for n in norms]
    was_training = model.training
    model.eval()
    try:
        x = torch.from_numpy(faces[:STAT_FACES]).float()[:, None]
        for i in range(0, len(x), 256):
            model(x[i:i + 256])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for norm in norms:
        total, squares, count = torch.stack(sums[id(norm)]).sum(0)
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0.0)
        shift = norm.bias.detach().double() - norm.running_mean.double()  # type: ignore[union-attr]
        norm.running_mean.copy_(mean.float())  # type: ignore[union-attr]
        norm.running_var.copy_(var.float())  # type: ignore[union-attr]
        norm.weight.copy_(torch.sqrt(var + norm.eps).float())
        norm.bias.copy_((mean + shift).float())
