"""The input pipeline: a tf.data stream of (image, one-hot label) batches, epoch by epoch.

Everything random is *stateless*, seeded by (run seed, epoch, batch): the shuffle order and every
augmentation of epoch ``e`` are the same whether the run went straight through or was resumed at
``e``. Augmentation: horizontal flip, rotation, shift, zoom (one affine warp) and random erasing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from training.config import TrainConfig


def epoch_stream(
    images: np.ndarray, labels: np.ndarray, positions: np.ndarray, config: TrainConfig,
    n_classes: int, first_epoch: int, sample_weights: np.ndarray | None = None,
) -> tuple[Any, int]:
    """(dataset covering epochs [first_epoch, config.epochs), steps per epoch)."""
    import tensorflow as tf

    all_images = tf.constant(images[..., None])  # uint8, (N, 48, 48, 1); gathered per batch
    all_labels = tf.constant(labels.astype(np.int32))
    weights = None if sample_weights is None else tf.constant(sample_weights.astype(np.float32))
    pos = tf.constant(positions.astype(np.int64))
    n = len(positions)
    steps = math.ceil(n / config.batch_size)
    seed = config.seed

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64), epoch])))
        ds = tf.data.Dataset.from_tensor_slices(tf.gather(pos, order)).batch(config.batch_size)
        return ds.enumerate().map(lambda b, idx: (epoch, b, idx))

    def load(epoch: tf.Tensor, batch: tf.Tensor, idx: tf.Tensor) -> tuple[tf.Tensor, ...]:
        x = tf.cast(tf.gather(all_images, idx), tf.float32)
        if config.augments:
            x = augment(x, tf.stack([epoch * 1_000_003 + seed, batch]), config)
        y = tf.one_hot(tf.gather(all_labels, idx), n_classes)
        if weights is None:
            return x, y
        return x, y, tf.gather(weights, tf.gather(all_labels, idx))

    ds = tf.data.Dataset.range(first_epoch, config.epochs).flat_map(one_epoch)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE), steps


def augment(x: Any, seed: Any, config: TrainConfig) -> Any:
    """Augment a float batch (B, H, W, 1) of 0-255 images with stateless randomness from ``seed``."""
    import tensorflow as tf

    b = tf.shape(x)[0]
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)

    def uniform(k: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([b], seed=seeds[k], minval=lo, maxval=hi)

    if config.flip:
        flip = uniform(0, 0.0, 1.0) < 0.5
        x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
    if config.rotation > 0 or config.shift > 0 or config.zoom > 0:
        angle = uniform(1, -1.0, 1.0) * (config.rotation * math.pi / 180.0)
        scale = 1.0 + uniform(2, -1.0, 1.0) * config.zoom
        tx = uniform(3, -1.0, 1.0) * config.shift * w
        ty = uniform(4, -1.0, 1.0) * config.shift * h
        # ImageProjectiveTransform maps OUTPUT pixel coordinates to INPUT ones: the inverse warp.
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
        a0, a1 = cos, sin
        b0, b1 = -sin, cos
        a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
        b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
        zeros = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT",
        )
    if config.erasing > 0:
        x = _random_erasing(x, seeds[5:8], config.erasing)
    return x


def _random_erasing(x: Any, seeds: Any, probability: float) -> Any:
    """Replace a random rectangle (2-25% of the area, aspect 0.3-3.3) with mid-gray, per image."""
    import tensorflow as tf

    b = tf.shape(x)[0]
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    u = tf.random.stateless_uniform([b, 5], seed=seeds[0])
    area = (0.02 + u[:, 0] * 0.23) * h * w
    aspect = tf.exp(tf.math.log(0.3) + u[:, 1] * (tf.math.log(3.3) - tf.math.log(0.3)))
    eh = tf.minimum(tf.sqrt(area * aspect), h)
    ew = tf.minimum(tf.sqrt(area / aspect), w)
    y0 = u[:, 2] * (h - eh)
    x0 = u[:, 3] * (w - ew)
    apply = u[:, 4] < probability
    rows = tf.range(h)[None, :, None]
    cols = tf.range(w)[None, None, :]
    inside = (
        (rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
        & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None])
        & apply[:, None, None]
    )
    return tf.where(inside[..., None], tf.fill(tf.shape(x), 127.5), x)
