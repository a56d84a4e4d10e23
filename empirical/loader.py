"""The training set as one tensor on the device, augmented with batched tensor ops.

No per-image Python runs in the hot loop: a batch is an index into the uint8 image tensor, random
crop (zero padding 4), horizontal flip and rotation are whole-batch gathers and one
``grid_sample``, and normalisation is one fused multiply-add. The same code runs on CPU and CUDA;
all randomness comes from the loader's own ``torch.Generator``, whose state is part of a
checkpoint, so a resumed run sees the same batches.

The transforms follow the reference's torchvision pipeline in order and convention: crop and flip
on raw pixels (padding pixels are 0 before normalisation), rotation by an angle uniform in
[−deg, deg] with nearest-neighbour sampling and zero fill, then ``(x/255 − mean)/std``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augment", "DeviceLoader", "augment_batch", "to_device_images"]


@dataclass(frozen=True)
class Augment:
    """Which augmentations to apply: crop padding in pixels (0 = none), flip, rotation in degrees."""

    crop_pad: int = 4
    flip: bool = True
    rotate_deg: float = 0.0

    @classmethod
    def none(cls) -> Augment:
        return cls(crop_pad=0, flip=False, rotate_deg=0.0)


def to_device_images(images, device) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` numpy images → uint8 ``(N, C, H, W)`` tensor on ``device``."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {x.dtype} {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).contiguous().to(device)


def _random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    B, _, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (B,), device=x.device, generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (B,), device=x.device, generator=gen)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, :]
    b = torch.arange(B, device=x.device)[:, None, None]
    return padded[b, :, rows, cols].permute(0, 3, 1, 2)  # advanced indices first: (B, H, W, C)


def _random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], device=x.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _random_rotate(x: torch.Tensor, degrees: float, gen: torch.Generator) -> torch.Tensor:
    B = x.shape[0]
    angle = (torch.rand(B, device=x.device, generator=gen) * 2 - 1) * (degrees * math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def augment_batch(x: torch.Tensor, aug: Augment, gen: torch.Generator, mean: torch.Tensor,
                  std: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` → augmented, normalised ``dtype`` batch (same device)."""
    if aug.crop_pad:
        x = _random_crop(x, aug.crop_pad, gen)
    if aug.flip:
        x = _random_flip(x, gen)
    x = x.to(dtype)
    if aug.rotate_deg:
        x = _random_rotate(x, aug.rotate_deg, gen)
    return (x * (1 / 255) - mean) / std


class DeviceLoader:
    """Batches of an on-device uint8 image tensor: ``for x, idx in loader``.

    Parameters
    ----------
    images : uint8 tensor (N, C, H, W) on the training device (see :func:`to_device_images`).
    batch_size : examples per batch; the last partial batch is kept unless ``drop_last``.
    mean, std : per-channel normalisation (in [0, 1] pixel units).
    augment : :class:`Augment`; ``Augment.none()`` and ``shuffle=False`` for evaluation.
    seed : seeds the loader's generator (permutation and augmentation draws).
    channels_last, dtype : memory format and floating dtype of the yielded batches.

    Yields ``(x, idx)``: ``x`` float (B, C, H, W), ``idx`` int64 (B,) positions in ``images``, so a
    trainer looks up clean and noisy labels (also on the device) without copying them around.
    """

    def __init__(self, images: torch.Tensor, *, batch_size: int, mean, std, augment: Augment = Augment(),
                 shuffle: bool = True, drop_last: bool = False, seed: int = 0, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.images = images
        self.device = images.device
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.channels_last = channels_last
        self.dtype = dtype
        shape = (1, images.shape[1], 1, 1)
        self.mean = torch.as_tensor(mean, dtype=dtype, device=self.device).reshape(shape)
        self.std = torch.as_tensor(std, dtype=dtype, device=self.device).reshape(shape)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = self.images.shape[0]
        if self.shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
        else:
            order = torch.arange(n, device=self.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = augment_batch(self.images[idx], self.augment, self.generator, self.mean, self.std, self.dtype)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
