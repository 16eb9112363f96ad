"""Architectures. Every model takes raw 0-255 gray 48x48 (normalisation is inside the graph) and
ends in a softmax named ``probabilities``, so the exported ONNX file needs no pre/post-processing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SEED_CNN_PARAMS = 792_855  # the thesis notebook's model.summary() total


def seed_cnn(n_classes: int = 7, side: int = 48) -> Any:
    """The thesis notebook's CNN: 5 conv blocks (Conv3x3 -> BatchNorm -> ReLU), Dropout 0.25 after
    blocks 1 and 3, MaxPool after blocks 2, 4 and 5, Dense 250 + Dropout 0.5, softmax.

    The notebook's parameter count (792,855) pins the widths 32-64-64-128-128 and a 4x4x128 flatten:
    blocks 1-2 keep the size ('same'), blocks 3-5 use Keras' default 'valid' padding (48 -> 24 -> 22 ->
    20 -> 10 -> 8 -> 4).
    """
    import keras
    from keras import layers

    inputs = keras.Input((side, side, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    plan = [(32, "same"), (64, "same"), (64, "valid"), (128, "valid"), (128, "valid")]
    for block, (filters, padding) in enumerate(plan, start=1):
        x = layers.Conv2D(filters, 3, padding=padding, name=f"conv{block}")(x)
        x = layers.BatchNormalization(name=f"bn{block}")(x)
        x = layers.Activation("relu", name=f"relu{block}")(x)
        if block in (1, 3):
            x = layers.Dropout(0.25, name=f"drop{block}")(x)
        if block in (2, 4, 5):
            x = layers.MaxPooling2D(name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(250, activation="relu", name="fc")(x)
    x = layers.Dropout(0.5, name="drop_fc")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


def vgg_fer(n_classes: int = 7, side: int = 48, width: int = 64, fc: int = 1024) -> Any:
    """The VGG variant of Khaireddin & Chen (2021, 73.28% on FER2013 PrivateTest): four stages of two
    3x3 Conv -> BatchNorm -> ReLU blocks (64, 128, 256, 512 filters), each stage max-pooled, then two
    fully connected layers with dropout. Our FC layers are 1024 wide instead of 4096 (10.5M parameters
    instead of ~40M) to keep CPU latency per face low.
    """
    import keras
    from keras import layers

    inputs = keras.Input((side, side, 1), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for stage, filters in enumerate((width, 2 * width, 4 * width, 8 * width), start=1):
        for block in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"s{stage}_conv{block}")(x)
            x = layers.BatchNormalization(name=f"s{stage}_bn{block}")(x)
            x = layers.Activation("relu", name=f"s{stage}_relu{block}")(x)
        x = layers.MaxPooling2D(name=f"s{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(fc, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(0.5, name=f"drop_fc{i}")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="vgg_fer")


def with_flip_tta(model: Any) -> Any:
    """The model averaged over the image and its mirror (test-time augmentation), as one graph."""
    import keras
    from keras import layers, ops

    inputs = keras.Input(model.input_shape[1:], name="image")
    mirrored = layers.Lambda(lambda x: ops.flip(x, axis=2), name="mirror")(inputs)
    outputs = layers.Average(name="probabilities")([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")


ARCHITECTURES: dict[str, Callable[..., Any]] = {
    "seed_cnn": seed_cnn,
    "vgg_fer": vgg_fer,
}


def build_model(arch: str, n_classes: int) -> Any:
    try:
        factory = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}") from None
    return factory(n_classes=n_classes)
