"""The trainer: SGD + momentum, cosine schedule per epoch, weight decay, gradient clipping.

:func:`train` runs one :class:`~empirical.config.RunConfig` on data already on the device and
returns a :class:`TrainResult` (per-epoch curves, last and best test accuracy, why it stopped).
The step is one screen: forward (optionally under bf16 autocast), the loss from
:mod:`theory.losses` on fp32 logits, backward, clip, step. Metrics accumulate on the device and
are read once per epoch, so the loop never waits on the GPU mid-epoch. A non-finite loss stops
the run at the end of that epoch with the reason recorded. With a ``checkpoint`` path the full
state (model, optimiser, schedule, loader generator, curves) is saved atomically every
``checkpoint_every_s`` seconds and a later call with the same config resumes from it.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from empirical.config import RunConfig
from empirical.loader import Augment, DeviceLoader
from empirical.models import build_model
from theory.verify.io import write_atomic

__all__ = ["DeviceData", "Learner", "TrainResult", "build_learner", "checkpoint_state", "predict", "train", "train_step"]


@dataclass
class DeviceData:
    """Images (uint8, N×C×H×W) and labels (int64) on the training device."""

    train_x: torch.Tensor
    train_clean: torch.Tensor
    train_noisy: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_noisy(cls, data, device) -> DeviceData:
        """Move a :class:`empirical.data.NoisyData` to ``device`` (one copy, uint8 images)."""
        from empirical.loader import to_device_images

        im = data.images
        long = lambda a: torch.as_tensor(a, dtype=torch.int64).to(device)  # noqa: E731
        return cls(to_device_images(im.train_x, device), long(data.train_clean), long(data.train_noisy),
                   to_device_images(im.test_x, device), long(im.test_y), im.num_classes, im.mean, im.std)


@dataclass
class TrainResult:
    """What :func:`train` measured. ``history`` has one dict per finished epoch: epoch, lr,
    train_loss, train_acc_noisy / train_acc_clean (predictions of the training pass on augmented
    images, against the noisy and the clean labels: memorisation), test_acc, train_seconds (the
    optimisation steps) and seconds (the epoch including the test evaluation)."""

    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    status: str = "finished"  # or "diverged"
    stop_reason: str | None = None
    train_seconds: float = 0.0  # wall time of all epochs, each including its test evaluation
    resumed_from_epoch: int = 0

    def add_epoch(self, epoch: int, lr: float, values, train_seconds: float, seconds: float) -> bool:
        """Record epoch ``epoch`` (1-based) from ``values`` = (train loss, accuracy against the
        noisy and the clean training labels, test accuracy); False when its loss is not finite:
        the run stops there, "diverged", with the reason."""
        loss, acc_noisy, acc_clean, test_acc = values
        self.history.append({"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc_noisy": acc_noisy,
                             "train_acc_clean": acc_clean, "test_acc": test_acc, "train_seconds": train_seconds,
                             "seconds": seconds})
        self.train_seconds += seconds
        if math.isfinite(loss):
            return True
        self.status = "diverged"
        self.stop_reason = f"non-finite training loss in epoch {epoch} (lr {lr:.3g})"
        return False

    @property
    def last_test_acc(self) -> float:
        return self.history[-1]["test_acc"] if self.history else math.nan

    @property
    def best(self) -> tuple[float, int]:
        """(best test accuracy, its epoch)."""
        if not self.history:
            return math.nan, 0
        row = max(self.history, key=lambda r: r["test_acc"])
        return row["test_acc"], row["epoch"]


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, mean, std, *, batch_size: int = 1024,
            precision: str = "fp32", channels_last: bool = False,
            each: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """fp32 logits (N, K) of ``model`` in eval mode on uint8 ``images`` (no augmentation); with
    ``each``, what it makes of each batch's logits (an argmax, say), concatenated, so only that
    is held in memory."""
    was_training = model.training
    model.eval()
    loader = DeviceLoader(images, batch_size=batch_size, mean=mean, std=std, augment=Augment.none(),
                          shuffle=False, channels_last=channels_last)
    out = []
    with _autocast(images.device, precision):
        for x, _ in loader:
            logits = model(x).float()
            out.append(logits if each is None else each(logits))
    model.train(was_training)
    return torch.cat(out)


def checkpoint_state(cfg: RunConfig, model: torch.nn.Module, optimizer_state: dict, schedule, loader, result,
                     device) -> dict:
    """A run's checkpoint: what :func:`train` resumes from (and a batch of runs, each run's)."""
    return {"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer_state,
            "schedule": schedule.state_dict(), "loader": loader.state_dict(), "history": result.history,
            "train_seconds": result.train_seconds, "settings": execution_settings(device)}


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` through the package's one atomic writer (:func:`theory.verify.io.write_atomic`)."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def execution_settings(device) -> dict:
    """What changes a run's numbers besides its config: CPU threads (reductions split
    differently), deterministic algorithms, the device. A checkpoint is resumed only under the
    settings it was written with."""
    return {"threads": torch.get_num_threads(), "deterministic": torch.are_deterministic_algorithms_enabled(),
            "device": str(torch.device(device))}


def set_aside(path: Path, kind: str, why: str, then: str) -> Path:
    """Keep ``path`` under ``<name>.<kind>-<UTC time>``, a name no reader takes for what it was,
    and warn ``"<why>; moved it to <new name> and <then>"``; returns the new path."""
    aside = path.with_name(f"{path.name}.{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    os.replace(path, aside)
    warnings.warn(f"{why}; moved it to {aside.name} and {then}", stacklevel=3)
    return aside


def _restart(path: Path, kind: str, why: str) -> None:
    set_aside(path, kind, f"checkpoint {path}: {kind}: {why}", "training the run from its start")


def _load_checkpoint(path: Path, cfg: RunConfig, device) -> dict | None:
    """The checkpoint at ``path`` when it is one of ``cfg`` written under the current execution
    settings; otherwise None, the file set aside (kept, never loaded again) with a warning."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        keys = {"config", "model", "optimizer", "schedule", "loader", "history", "train_seconds"}
        if not isinstance(state, dict) or not keys <= set(state):
            raise ValueError(f"missing {sorted(keys - set(state)) if isinstance(state, dict) else 'everything'}")
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is set aside, the run restarts
        _restart(path, "corrupt", f"cannot be read ({type(err).__name__}: {str(err)[:200]})")
        return None
    if state["config"] != cfg.to_dict():
        _restart(path, "foreign", "written for another config")
        return None
    settings = execution_settings(device)
    if state.get("settings") != settings:
        _restart(path, "settings", f"written under {state.get('settings')}, resumed under {settings} (the result "
                         "would match neither)")
        return None
    return state


@dataclass
class Learner:
    """The network (``model``; ``forward`` is it or its compiled version), the loss, SGD and the
    cosine schedule of one resolved config."""

    model: torch.nn.Module
    forward: Callable
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler


def build_learner(cfg: RunConfig, num_classes: int, device) -> Learner:
    """Seed torch with ``cfg.seed`` and build the :class:`Learner` of a resolved ``cfg`` on ``device``."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return Learner(model, torch.compile(model) if cfg.compile else model,
                   cfg.build_loss().torch(reduction="none", validate=False), optimizer,
                   torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs))


def train_step(learner: Learner, cfg: RunConfig, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on the batch (x, y): forward (bf16 autocast when configured), the loss on fp32
    logits, backward, gradient clipping, step. Returns the per-example losses and the logits."""
    with _autocast(x.device, cfg.precision):
        logits = learner.forward(x)
    values = learner.criterion(logits.float(), y)
    learner.optimizer.zero_grad(set_to_none=True)
    values.mean().backward()
    torch.nn.utils.clip_grad_norm_(learner.model.parameters(), cfg.grad_clip)
    learner.optimizer.step()
    return values, logits


def train(cfg: RunConfig, data: DeviceData, *, progress: bool = False, checkpoint: Path | None = None,
          checkpoint_every_s: float = 60.0, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``cfg`` (resolved here) on ``data``; see the module docstring.

    ``on_epoch`` is called with each epoch's record after it is stored (and checkpointed).
    """
    cfg = cfg.resolved()
    device = data.train_x.device
    learner = build_learner(cfg, data.num_classes, device)
    model, optimizer, schedule = learner.model, learner.optimizer, learner.schedule
    loader = DeviceLoader(data.train_x, batch_size=cfg.batch_size, mean=data.mean, std=data.std,
                          augment=cfg.augment, seed=cfg.seed, channels_last=cfg.channels_last)
    result = TrainResult(model)
    start_epoch = 0
    state = _load_checkpoint(checkpoint, cfg, device) if checkpoint is not None and checkpoint.exists() else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        loader.load_state_dict(state["loader"])
        result.history = state["history"]
        result.train_seconds = state["train_seconds"]
        start_epoch = result.resumed_from_epoch = len(result.history)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, unit="epoch", desc=f"{cfg.method} {cfg.noise} s{cfg.seed}",
                   dynamic_ncols=True, leave=False)
    last_save = time.monotonic()
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        hits = torch.zeros(2, device=device, dtype=torch.int64)  # vs noisy, vs clean labels
        for x, idx in loader:
            y = data.train_noisy[idx]
            values, logits = train_step(learner, cfg, x, y)
            with torch.no_grad():
                loss_sum += values.detach().sum()  # a non-finite loss anywhere makes it non-finite
                pred = logits.detach().argmax(1)
                hits += torch.stack([(pred == y).sum(), (pred == data.train_clean[idx]).sum()])
        lr = optimizer.param_groups[0]["lr"]
        schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # so the training time below excludes the evaluation
        train_seconds = time.perf_counter() - t0
        n = data.train_x.shape[0]
        test_logits = predict(model, data.test_x, data.mean, data.std, precision=cfg.precision,
                              channels_last=cfg.channels_last)
        test_acc = (test_logits.argmax(1) == data.test_y).double().mean()
        values = torch.cat([(loss_sum / n)[None], hits.double() / n, test_acc[None]]).tolist()  # one sync
        if not result.add_epoch(epoch + 1, lr, values, train_seconds, time.perf_counter() - t0):
            break
        record = result.history[-1]
        if bar is not None:
            bar.set_postfix(loss=f"{values[0]:.3f}", test=f"{values[3]:.3f}")
            bar.update(1)
        if checkpoint is not None and epoch + 1 < cfg.epochs and time.monotonic() - last_save >= checkpoint_every_s:
            save_atomic(checkpoint_state(cfg, model, optimizer.state_dict(), schedule, loader, result, device),
                         checkpoint)
            last_save = time.monotonic()
        if on_epoch is not None:
            on_epoch(record)
    if bar is not None:
        bar.close()
    return result
