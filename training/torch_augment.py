"""Augmentation for the PyTorch engine: the same transforms as ``training.augment`` (flip, one affine warp of
rotation, shift and zoom with reflected borders, random erasing with mid-gray), on (B, 1, H, W) batches.

Everything random comes from a ``torch.Generator`` seeded by (run seed, epoch, batch), so an epoch
replays exactly after --resume.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from training.config import TrainConfig


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 100_003 + batch)


def augment(x: torch.Tensor, gen: torch.Generator, config: TrainConfig) -> torch.Tensor:
    """Augment a float batch (B, 1, H, W) of 0-255 images."""
    b = x.shape[0]
    u = torch.rand(b, 10, generator=gen) * 2 - 1  # uniform in [-1, 1]
    if config.flip:
        x = torch.where((u[:, 0] < 0)[:, None, None, None], x.flip(3), x)
    if config.rotation > 0 or config.shift > 0 or config.zoom > 0:
        angle = u[:, 1] * (config.rotation * math.pi / 180.0)
        scale = 1.0 + u[:, 2] * config.zoom
        # affine_grid maps output to input coordinates in [-1, 1]: a shift of s sides is 2 s there.
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        tx, ty = u[:, 3] * 2 * config.shift, u[:, 4] * 2 * config.shift
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if config.erasing > 0:
        x = _random_erasing(x, (u[:, 5:] + 1) / 2, config.erasing)
    return x


def _random_erasing(x: torch.Tensor, u: torch.Tensor, probability: float) -> torch.Tensor:
    """A mid-gray rectangle (2-25% of the area, aspect 0.3-3.3) in each image with ``probability``."""
    h, w = x.shape[2], x.shape[3]
    area = (0.02 + u[:, 0] * 0.23) * h * w
    aspect = torch.exp(math.log(0.3) + u[:, 1] * (math.log(3.3) - math.log(0.3)))
    eh = torch.clamp(torch.sqrt(area * aspect), max=h)
    ew = torch.clamp(torch.sqrt(area / aspect), max=w)
    y0, x0 = u[:, 2] * (h - eh), u[:, 3] * (w - ew)
    rows = torch.arange(h, dtype=x.dtype)[None, :, None]
    cols = torch.arange(w, dtype=x.dtype)[None, None, :]
    inside = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
              & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None])
              & (u[:, 4] < probability)[:, None, None])
    return torch.where(inside[:, None], torch.full_like(x, 127.5), x)
