"""Training throughput: our on-device loader against a per-image DataLoader baseline.

The baseline is written the way the reference trainer feeds its network: a ``Dataset`` that
transforms one image at a time (pad-4 random crop, horizontal flip, to float, normalise), a
``DataLoader`` with worker processes, fp32. Both sides run the same network, loss, optimiser and
clipping in the same process, so the ratio is what the loader and the precision options buy.

    python benchmarks/bench_train.py --data-dir .data                 # images/s, CPU or GPU
    python benchmarks/bench_train.py --data-dir .data --full          # also 120-epoch accuracy (GPU)

``--data-dir`` holds ``cifar-10-batches-py`` (``python ../shared/tools/cifar10_from_npz.py .data``
writes it from the shared copy). Prints one row per variant and writes ``--json`` when given.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from empirical.config import RunConfig
from empirical.data import load_noisy
from empirical.loader import DeviceLoader, to_device_images
from empirical.run import provenance
from empirical.train import DeviceData, build_learner, predict, train, train_step


class PerImageDataset(torch.utils.data.Dataset):
    """Reference-style dataset: every transform runs per image in a worker process."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std, train: bool = True):
        self.images, self.labels, self.train = images, labels, train
        self.mean = np.asarray(mean, dtype=np.float32)[:, None, None]
        self.std = np.asarray(std, dtype=np.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i]
        if self.train:
            padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
            dy, dx = np.random.randint(0, 9, size=2)
            img = padded[dy:dy + 32, dx:dx + 32]
            if np.random.rand() < 0.5:
                img = img[:, ::-1]
        x = (img.transpose(2, 0, 1).astype(np.float32) / 255 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.labels[i])


class TorchvisionDataset(torch.utils.data.Dataset):
    """The reference's own pipeline, when torchvision is installed: each image becomes a PIL image
    (as torchvision's CIFAR10 returns it) and goes through RandomCrop(32, padding=4),
    RandomHorizontalFlip, ToTensor and Normalize in a worker."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                             transforms.ToTensor(), transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def baseline_pipeline() -> str:
    """Which per-image pipeline the baseline runs: torchvision's when importable, else ours in numpy."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return "numpy per-image transforms (torchvision not installed)"
    return "torchvision transforms on PIL images (the reference's pipeline)"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _images_per_s(make_iter, step, device, steps, warmup) -> float:
    """Images per second of ``step(batch)`` over ``steps`` batches after ``warmup`` untimed ones;
    ``make_iter()`` starts a new epoch when the current one runs out."""
    it, n, t0 = make_iter(), 0, 0.0
    for i in range(warmup + steps):
        batch = next(it, None)
        if batch is None:
            it = make_iter()
            batch = next(it)
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        step(batch)
        n += batch[0].shape[0] if i >= warmup else 0
    _sync(device)
    return n / (time.perf_counter() - t0)


def _per_image_loader(data, cfg, device, workers, drop_last):
    if baseline_pipeline().startswith("torchvision"):
        ds = TorchvisionDataset(data.images.train_x, data.train_noisy, data.images.mean, data.images.std)
    else:
        ds = PerImageDataset(data.images.train_x, data.train_noisy, data.images.mean, data.images.std)
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=drop_last,
                                       persistent_workers=workers > 0)


def bench_baseline(cfg, data, device, steps, warmup, workers):
    learner = build_learner(cfg, data.num_classes, device)
    loader = _per_image_loader(data, cfg, device, workers, drop_last=True)

    def step(batch):
        x, y = batch
        train_step(learner, cfg, x.to(device, non_blocking=True), y.to(device, non_blocking=True))

    return _images_per_s(lambda: iter(loader), step, device, steps, warmup)


def bench_ours(cfg, dd: DeviceData, device, steps, warmup, *, fused: bool = False):
    """Images/s of our single-run step; ``fused``: with torch's fused SGD kernel in place of the
    trainer's (foreach on a GPU), to measure whether it should become the default."""
    learner = build_learner(cfg, dd.num_classes, device)
    if fused:
        learner.optimizer = torch.optim.SGD(learner.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                            weight_decay=cfg.weight_decay, fused=True)
    loader = DeviceLoader(dd.train_x, batch_size=cfg.batch_size, mean=dd.mean, std=dd.std, augment=cfg.augment,
                          seed=cfg.seed, channels_last=cfg.channels_last, drop_last=True)

    def step(batch):
        x, idx = batch
        train_step(learner, cfg, x, dd.train_noisy[idx])

    return _images_per_s(lambda: iter(loader), step, device, steps, warmup)


def full_baseline_accuracy(cfg, data, device, workers):
    """The fp32 per-image protocol end to end (cosine per epoch), last-epoch test accuracy."""
    learner = build_learner(cfg, data.num_classes, device)
    loader = _per_image_loader(data, cfg, device, workers, drop_last=False)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        learner.model.train()
        for x, y in loader:
            train_step(learner, cfg, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
        learner.schedule.step()
    _sync(device)
    seconds = time.perf_counter() - t0
    logits = predict(learner.model, to_device_images(data.images.test_x, device), data.images.mean, data.images.std)
    acc = (logits.argmax(1).cpu() == torch.as_tensor(data.images.test_y)).double().mean().item()
    return acc, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=".data")
    parser.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100", "synthetic"))
    parser.add_argument("--model", default=None, help="default: the dataset's protocol (cnn8 for CIFAR-10)")
    parser.add_argument("--method", default="ce")
    parser.add_argument("--noise", default="clean")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant (default 30 CPU / 200 GPU)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None, help="baseline DataLoader workers (default min(8, cores))")
    parser.add_argument("--full", action="store_true", help="also train the full protocol both ways (GPU)")
    parser.add_argument("--seeds", default="123")
    parser.add_argument("--json")
    args = parser.parse_args()

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    gpu = device.type == "cuda"
    steps = args.steps or (200 if gpu else 30)
    warmup = args.warmup if args.warmup is not None else (20 if gpu else 3)
    workers = args.workers if args.workers is not None else min(8, torch.multiprocessing.cpu_count())
    cfg = RunConfig(dataset=args.dataset, noise=args.noise, method=args.method, model=args.model).resolved()
    data = load_noisy(cfg.dataset, cfg.noise_spec, seed=cfg.seed, data_dir=args.data_dir, download_missing=False)
    dd = DeviceData.from_noisy(data, device)
    info = provenance(device)
    print(f"device: {info['device_name']} ({device}), torch {info['torch']}, {torch.get_num_threads()} threads; "
          f"model {cfg.model}, batch {cfg.batch_size}, {steps} timed steps after {warmup} warm-up")

    variants = [(f"per-image DataLoader baseline (fp32, {workers} workers)", None)]
    variants.append(("ours fp32", dataclasses.replace(cfg, precision="fp32")))
    variants.append(("ours bf16 + channels-last", dataclasses.replace(cfg, precision="bf16", channels_last=True)))
    if gpu:
        variants.append(("ours bf16 + channels-last + compile",
                         dataclasses.replace(cfg, precision="bf16", channels_last=True, compile=True)))
    rows = []
    base = None
    for name, variant in variants:
        if variant is None:
            ips = bench_baseline(cfg, data, device, steps, warmup, workers)
            base = ips
        else:
            ips = bench_ours(variant, dd, device, steps, warmup + (30 if variant.compile else 0))
        rows.append({"variant": name, "images_per_s": ips, "ratio_vs_baseline": ips / base})
        print(f"{name:45s} {ips:10.0f} images/s   × {ips / base:5.2f}")

    result = {"provenance": info, "config": cfg.to_dict(), "steps": steps, "throughput": rows}
    if args.full:
        fast = dataclasses.replace(cfg, precision="bf16", channels_last=True, compile=gpu)
        full = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            c_fast, c_base = dataclasses.replace(fast, seed=seed), dataclasses.replace(cfg, seed=seed)
            out = train(c_fast, DeviceData.from_noisy(load_noisy(cfg.dataset, cfg.noise_spec, seed=seed,
                                                                   data_dir=args.data_dir), device))
            acc_base, s_base = full_baseline_accuracy(c_base, load_noisy(cfg.dataset, cfg.noise_spec, seed=seed,
                                                                         data_dir=args.data_dir), device, workers)
            full.append({"seed": seed, "ours_acc": out.last_test_acc, "ours_train_s": out.train_seconds,
                         "baseline_acc": acc_base, "baseline_train_s": s_base})
            print(f"seed {seed}: ours {100 * out.last_test_acc:.2f} % in {out.train_seconds:.0f} s; "
                  f"baseline {100 * acc_base:.2f} % in {s_base:.0f} s")
        result["full"] = full
    if args.json:
        from theory.verify import write_json

        write_json(args.json, result)


if __name__ == "__main__":
    main()
