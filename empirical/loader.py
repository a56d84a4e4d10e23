"""The training set as one tensor on the device, augmented with batched tensor ops.

No per-image Python runs in the hot loop: a batch is an index into the uint8 image tensor, random
crop (zero padding 4), horizontal flip and rotation are whole-batch gathers and one
``grid_sample``, and normalisation is one fused multiply-add. The same code runs on CPU and CUDA;
all randomness comes from the loader's own ``torch.Generator``, whose state is part of a
checkpoint, so a resumed run sees the same batches.

The transforms follow the reference's torchvision pipeline in order and convention: crop and flip
on raw pixels (padding pixels are 0 before normalisation), rotation by an angle uniform in
[−deg, deg] with nearest-neighbour sampling and zero fill, then ``(x/255 − mean)/std``. A batch's
random numbers (:class:`Draws`) are drawn apart from their use (:func:`apply_augment`), so
:class:`RunsLoader` can step N runs' loaders together: each run's numbers from its own
generator, one augmentation pass over all N batches.

Memory format: the crop's gather leaves a batch with channels-last strides; the loader passes it
on as it is unless asked for channels-last (then it makes it so), and batches stepped together
keep the format each run's batch would have, so a grouped network runs the kernels the single
networks run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augment", "DeviceLoader", "Draws", "RunsLoader", "apply_augment", "augment_batch", "to_device_images"]


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


@dataclass(frozen=True)
class Draws:
    """The random numbers of one batch's augmentation: crop offsets ``dy``, ``dx`` (int64), flips
    (bool) and rotation angles (radians), each ``(B,)``, None where that augmentation is off.

    :meth:`make` draws them from a generator in one fixed order (dy, dx, flip, angle), so a batch
    augmented alone and the same batch augmented beside other runs' batches see the same numbers.
    """

    dy: torch.Tensor | None = None
    dx: torch.Tensor | None = None
    flip: torch.Tensor | None = None
    angle: torch.Tensor | None = None

    @classmethod
    def make(cls, aug: Augment, size: int, gen: torch.Generator, device) -> Draws:
        def uniform():
            return torch.rand(size, device=device, generator=gen)

        def offsets():
            return torch.randint(0, 2 * aug.crop_pad + 1, (size,), device=device, generator=gen)

        dy, dx = (offsets(), offsets()) if aug.crop_pad else (None, None)
        flip = uniform() < 0.5 if aug.flip else None
        angle = (uniform() * 2 - 1) * (aug.rotate_deg * math.pi / 180) if aug.rotate_deg else None
        return cls(dy, dx, flip, angle)

    @classmethod
    def interleave(cls, runs: list[Draws]) -> Draws:
        """The draws of N runs' batches of B images each as one batch of B·N, image-major:
        element ``b·N + r`` is run r's b-th (the order :class:`RunsLoader` lays images out in)."""
        def join(name):
            parts = [getattr(d, name) for d in runs]
            return None if parts[0] is None else torch.stack(parts, 1).reshape(-1)

        return cls(*(join(f.name) for f in dataclasses.fields(cls)))


def _crop(x: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    B, _, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, :]
    b = torch.arange(B, device=x.device)[:, None, None]
    return padded[b, :, rows, cols].permute(0, 3, 1, 2)  # advanced indices first: (B, H, W, C)


def _rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def apply_augment(x: torch.Tensor, aug: Augment, draws: Draws, mean: torch.Tensor, std: torch.Tensor,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` → the batch augmented with ``draws`` and normalised, in ``dtype``."""
    if aug.crop_pad:
        x = _crop(x, aug.crop_pad, draws.dy, draws.dx)
    if aug.flip:
        x = torch.where(draws.flip[:, None, None, None], x.flip(3), x)
    x = x.to(dtype)
    if aug.rotate_deg:
        x = _rotate(x, draws.angle)
    return (x * (1 / 255) - mean) / std


def augment_batch(x: torch.Tensor, aug: Augment, gen: torch.Generator, mean: torch.Tensor,
                  std: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` → augmented, normalised ``dtype`` batch (same device), the
    augmentation drawn from ``gen``."""
    return apply_augment(x, aug, Draws.make(aug, x.shape[0], gen, x.device), mean, std, dtype)


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

    def order(self) -> torch.Tensor:
        """An epoch's order of the images: a permutation drawn from the generator, or 0..N−1."""
        n = self.images.shape[0]
        if self.shuffle:
            return torch.randperm(n, device=self.device, generator=self.generator)
        return torch.arange(n, device=self.device)

    def batch_slices(self):
        """The positions in :meth:`order` of each batch of an epoch."""
        size = self.batch_size
        return (slice(start, start + size) for start in range(0, len(self) * size, size))

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """A batch in channels-last memory when the loader is asked for it; otherwise as the
        augmentation leaves it (the crop's gather leaves channels-last strides)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __iter__(self):
        order = self.order()
        for part in self.batch_slices():
            idx = order[part]
            yield self.finish(augment_batch(self.images[idx], self.augment, self.generator, self.mean, self.std,
                                            self.dtype)), idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _side_by_side(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(B·N, C, H, W)``, image-major, as ``(B, N·C, H, W)``, in the memory format ``x`` has (so
    the joint batch is laid out as the N runs' own batches concatenated along channels would be,
    and the network runs the same kernels): a view when contiguous, one copy when channels-last."""
    BN, C, H, W = x.shape
    if x.is_contiguous():
        return x.reshape(BN // n, n * C, H, W)
    if not x.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"a batch must be contiguous or channels-last, got strides {x.stride()}")
    rows = x.permute(0, 2, 3, 1).reshape(BN // n, n, H, W, C).permute(0, 2, 3, 1, 4)  # (B, H, W, N, C)
    return rows.reshape(BN // n, H, W, n * C).permute(0, 3, 1, 2)


class RunsLoader:
    """The loaders of N runs stepped together, for a grouped network (:mod:`empirical.batched`):
    ``for x, idx in RunsLoader(loaders)``, ``x`` float ``(B, N·C, H, W)`` (run r's images in
    channels ``r·C … (r+1)·C − 1``), ``idx`` int64 ``(B, N)`` (column r: run r's positions).

    Each run keeps its own generator, and draws from it exactly what its :class:`DeviceLoader`
    would (its permutation, then each batch's :class:`Draws`), so run r's images are bit for bit
    those its loader yields alone. What is shared is the work: one gather of all N·B images, one
    augmentation of them, laid out image-major so that the grouped layout is a free reshape (not
    a per-run augmentation and a concatenation: on a GPU, N times fewer kernel launches).
    The loaders must agree on everything but their generators (and their images, when each run
    holds its own copy of the same set).
    """

    def __init__(self, loaders: list[DeviceLoader]):
        if not loaders:
            raise ValueError("RunsLoader needs at least one loader, got none")
        first = loaders[0]
        for name in ("batch_size", "augment", "shuffle", "drop_last", "channels_last", "dtype", "device"):
            seen = [getattr(ld, name) for ld in loaders]
            if any(v != seen[0] for v in seen):
                raise ValueError(f"loaders stepped together must share {name}, got {seen}")
        for name in ("images", "mean", "std"):
            shapes = {tuple(getattr(ld, name).shape) for ld in loaders}
            same = (getattr(ld, name) is getattr(first, name) or torch.equal(getattr(ld, name), getattr(first, name))
                    for ld in loaders)
            if len(shapes) > 1 or not all(same):
                raise ValueError(f"loaders stepped together must share {name} (equal tensors); they differ")
        self.loaders = loaders
        self.images = first.images  # equal in every loader, so one copy serves all

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self):
        first, n = self.loaders[0], len(self.loaders)
        orders = torch.stack([ld.order() for ld in self.loaders], 1)  # (N_images, N)
        C, H, W = self.images.shape[1:]
        for part in first.batch_slices():
            idx = orders[part]
            B = idx.shape[0]
            draws = Draws.interleave([Draws.make(first.augment, B, ld.generator, first.device) for ld in self.loaders])
            x = apply_augment(self.images[idx.reshape(-1)], first.augment, draws, first.mean, first.std, first.dtype)
            yield first.finish(_side_by_side(x, n)), idx

    def state_dict(self) -> list[dict]:
        return [ld.state_dict() for ld in self.loaders]

    def load_state_dict(self, states: list[dict]) -> None:
        for ld, state in zip(self.loaders, states, strict=True):
            ld.load_state_dict(state)
