"""PyTorch twins of the Keras architectures, for training on CPUs where PyTorch is faster.

Keras (``training.model``) stays the one definition that is exported: a trained twin's weights are copied
into the Keras model (``to_keras``) and go through the same tf2onnx export and parity gate. Each twin
matches its Keras model layer for layer (BatchNorm eps 1e-3 and momentum 0.01 = Keras' 0.99, flatten in
NHWC order), so the copy is exact; ``tests/training/test_torch_engine.py`` checks it on real faces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

KERAS_BN_EPS, KERAS_BN_MOMENTUM = 1e-3, 0.01  # Keras: epsilon 1e-3, momentum 0.99 (= 1 - 0.01)


class VggFer(nn.Module):
    """``training.model.vgg_fer``: four stages of two Conv3x3 -> BN -> ReLU, max-pooled, two FC + dropout.

    Takes raw 0-255 gray faces (B, 1, 48, 48); returns logits (the Keras model ends in a softmax).
    """

    def __init__(self, n_classes: int = 7, side: int = 48, width: int = 64, fc: int = 1024) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for filters in (width, 2 * width, 4 * width, 8 * width):
            for _ in (1, 2):
                layers += [nn.Conv2d(channels, filters, 3, padding=1, bias=False),
                           nn.BatchNorm2d(filters, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM), nn.ReLU(inplace=True)]
                channels = filters
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        flat = channels * (side // 16) ** 2
        self.head = nn.Sequential(nn.Linear(flat, fc), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(fc, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x * (1.0 / 255.0))
        return self.head(x.permute(0, 2, 3, 1).flatten(1))  # Keras' Flatten order (H, W, C)


TORCH_ARCHITECTURES: dict[str, type[nn.Module]] = {"vgg_fer": VggFer}


def build_torch_model(arch: str, n_classes: int) -> nn.Module:
    try:
        factory = TORCH_ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"--engine torch has no twin of architecture {arch!r}; "
                         f"choose from {sorted(TORCH_ARCHITECTURES)}") from None
    return factory(n_classes=n_classes)


def to_keras(module: nn.Module, keras_model: Any) -> Any:
    """Copy a twin's weights (and BatchNorm statistics) into its Keras model, layer by layer, in order."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    denses = [m for m in module.modules() if isinstance(m, nn.Linear)]
    k_convs, k_norms, k_denses = ([layer for layer in keras_model.layers if type(layer).__name__ == kind]
                                  for kind in ("Conv2D", "BatchNormalization", "Dense"))
    if (len(convs), len(norms), len(denses)) != (len(k_convs), len(k_norms), len(k_denses)):
        raise ValueError(f"{type(module).__name__} and {keras_model.name} do not have the same layers")

    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    for conv, layer in zip(convs, k_convs, strict=True):
        weights = [numpy(conv.weight).transpose(2, 3, 1, 0)]  # (O, I, kh, kw) -> (kh, kw, I, O)
        if conv.bias is not None:
            weights.append(numpy(conv.bias))
        layer.set_weights(weights)
    for norm, layer in zip(norms, k_norms, strict=True):
        assert norm.running_mean is not None and norm.running_var is not None
        layer.set_weights([numpy(norm.weight), numpy(norm.bias), numpy(norm.running_mean), numpy(norm.running_var)])
    for dense, layer in zip(denses, k_denses, strict=True):
        layer.set_weights([numpy(dense.weight).T, numpy(dense.bias)])
    return keras_model
