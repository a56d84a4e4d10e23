"""CIFAR-10/100 and a synthetic stand-in, with clean and noisy training labels side by side.

Images are uint8 arrays ``(N, 32, 32, 3)`` in the archives' original order; every loader returns
numpy arrays and never touches torch, so the noise code and the tests run anywhere.

Label noise (:class:`NoiseSpec`) comes from :mod:`theory.noise`, never re-implemented here:

========================  =======================================================================
``clean``                 the original labels
``symmetric:η``           exactly ⌊η n_c⌋ members of each class c flipped to *other* classes
                          (actual rate η, not η(K−1)/K), :func:`theory.noise.sample` (exact)
``asymmetric:η``          CIFAR-10: the five class pairs of :data:`theory.noise.CIFAR10_PAIRS`, drawn
                          from the original members; ``asymmetric:η:reference`` reproduces the
                          reference code's sequential flipping. CIFAR-100: index blocks of five,
                          j → j+1 cyclically (:func:`theory.noise.cifar100_blocks`)
``instance:η``            the pre-computed files ``{dataset}_dependent_{η}.json`` (η ∈ 0.2/0.4/0.6)
``human:NAME``            CIFAR-10N (aggre, rand1, rand2, rand3, worst) or CIFAR-100N (noisy) from
                          the official ``.pt`` files, read without executing pickle code
========================  =======================================================================
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirical.safe_pickle import MAX_LABEL_FILE_BYTES, DataFileError, check_size, load_file, load_torch_zip
from theory import noise as tnoise
from theory.validation import describe

__all__ = [
    "DATASETS",
    "DataNotFoundError",
    "ImageData",
    "NoiseSpec",
    "NoisyData",
    "apply_noise",
    "available",
    "download",
    "load_images",
    "load_noisy",
    "synthetic",
]

DATASETS = ("cifar10", "cifar100", "synthetic")

# Per-channel statistics of the training images (PAPER.md §6), for normalisation.
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
}


@dataclass(frozen=True)
class _Source:
    folder: str
    url: str
    md5: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: bytes
    num_classes: int


# The canonical archives (Krizhevsky 2009) and their published MD5 checksums.
SOURCES = {
    "cifar10": _Source(
        "cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), b"labels", 10),
    "cifar100": _Source(
        "cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85", ("train",), ("test",), b"fine_labels", 100),
}

HUMAN_FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
HUMAN_KEYS = {
    "cifar10": {"aggre": "aggre_label", "rand1": "random_label1", "rand2": "random_label2",
                "rand3": "random_label3", "worst": "worse_label"},
    "cifar100": {"noisy": "noisy_label"},
}
INSTANCE_RATES = (0.2, 0.4, 0.6)


class DataNotFoundError(FileNotFoundError):
    """A dataset or label file is missing; the message says where to put it."""


# ----------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class ImageData:
    """A dataset's images and original labels.

    ``train_x``/``test_x``: uint8 (N, 32, 32, 3); ``train_y``/``test_y``: int64 (N,) in [0, K).
    """

    name: str
    num_classes: int
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self):
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
                raise ValueError(f"{self.name} {split} images must be uint8 (N, H, W, 3), got {x.dtype} {x.shape}")
            if y.shape != (x.shape[0],):
                raise ValueError(f"{self.name} {split} labels must have shape ({x.shape[0]},), got {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"{self.name} {split} labels must lie in [0, {self.num_classes}), "
                                 f"got [{y.min()}, {y.max()}]")


def integer_labels(value, where: str, *, n: int | None, num_classes: int) -> np.ndarray:
    """Labels as stored in a data file: a 1-D integer array or a flat list of integers (never a
    nested list, which ``np.asarray`` would expand: a few hundred bytes of pickle can ask for
    gigabytes that way), of length ``n`` where given, in [0, num_classes). Floats are refused,
    not truncated. ``where`` names the file and key for the message."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
            raise DataFileError(f"{where} must be a 1-D array of integer class labels, got {describe(value)}")
        labels = value.astype(np.int64, copy=False)
    elif isinstance(value, list):
        kinds = set(map(type, value))  # one pass in C; a nested list shows up here as `list`
        if not all(issubclass(k, (int, np.integer)) and k is not bool for k in kinds):
            bad = next(v for v in value if isinstance(v, bool) or not isinstance(v, (int, np.integer)))
            raise DataFileError(f"{where} must hold integer class labels, got {type(bad).__name__} {bad!r}")
        try:
            labels = np.array(value, dtype=np.int64)
        except OverflowError:
            raise DataFileError(f"{where} must hold class labels, got an integer beyond 64 bits") from None
    else:
        raise DataFileError(f"{where} must be a 1-D array or a list of integer class labels, "
                            f"got {describe(value)}")
    if n is not None and labels.shape != (n,):
        raise DataFileError(f"{where} must hold {n} labels (one per image), got {labels.shape[0]}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise DataFileError(f"{where} labels must lie in [0, {num_classes - 1}], got {bad}")
    return labels


def _pixels(value, where: str) -> np.ndarray:
    """CIFAR's b'data': (N, 3072) integers in [0, 255], CHW-flattened; uint8 as stored, other
    integer dtypes when every value fits. Floats (images scaled to [0, 1]) and NaN are refused,
    not cast: a cast would turn them into black or arbitrary bytes."""
    if not isinstance(value, np.ndarray) or value.ndim != 2 or value.shape[1] != 3072:
        raise DataFileError(f"{where} must be an (N, 3072) array of uint8 pixels, got {describe(value)}")
    if value.dtype == np.uint8:
        return value
    if not np.issubdtype(value.dtype, np.integer):
        raise DataFileError(f"{where} must hold uint8 pixels in [0, 255], got dtype {value.dtype}"
                            + (f" with values in [{np.nanmin(value):g}, {np.nanmax(value):g}]" if value.size and
                               np.issubdtype(value.dtype, np.floating) and np.isfinite(value).any() else ""))
    lo, hi = (int(value.min()), int(value.max())) if value.size else (0, 0)
    if lo < 0 or hi > 255:
        raise DataFileError(f"{where} must hold pixels in [0, 255], got dtype {value.dtype} "
                            f"with values in [{lo}, {hi}]")
    return value.astype(np.uint8)


def _read_batches(folder: Path, files: tuple[str, ...], label_key: bytes, num_classes: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in files:
        path = folder / name
        batch = load_file(path, encoding="bytes")
        if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
            raise DataFileError(f"{path} is not a CIFAR python batch (expected a dict with "
                                f"b'data' and {label_key!r}, got keys {sorted(batch)[:6] if isinstance(batch, dict) else type(batch).__name__})")
        data = _pixels(batch[b"data"], f"{path}, key b'data',")
        labels = integer_labels(batch[label_key], f"{path}, key {label_key!r},", n=data.shape[0],
                                num_classes=num_classes)
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def _find_folder(root: Path, source: _Source) -> Path | None:
    for candidate in (root / source.folder, root):
        if all((candidate / f).is_file() for f in source.train_files + source.test_files):
            return candidate
    return None


def available(name: str, data_dir: str | os.PathLike) -> bool:
    """Whether ``data_dir`` holds ``name``'s files in a layout :func:`load_images` reads."""
    return name == "synthetic" or _find_folder(Path(data_dir).expanduser(), SOURCES[name]) is not None


def load_images(name: str, data_dir: str | os.PathLike | None = None, *, download_missing: bool = True,
                train_per_class: int | None = None) -> ImageData:
    """Load ``name`` ("cifar10", "cifar100" or "synthetic") in its original order.

    Parameters
    ----------
    data_dir : folder holding the standard python layout (``cifar-10-batches-py/`` or
        ``cifar-100-python/``, or the batch files themselves). Unused for "synthetic".
    download_missing : when the files are absent, download the canonical archive (checksum
        verified, extracted atomically); otherwise raise :class:`DataNotFoundError`.
    train_per_class : keep only the first n training images of each class (in archive order),
        for short runs; test images are all kept.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "synthetic":
        data = synthetic()
    else:
        if data_dir is None:
            raise ValueError(f"{name} needs a data directory (data_dir / --data-dir)")
        source = SOURCES[name]
        root = Path(data_dir).expanduser()
        folder = _find_folder(root, source)
        if folder is None:
            if not download_missing:
                raise DataNotFoundError(_missing_message(name, root))
            download(name, root)
            folder = root / source.folder
        train_x, train_y = _read_batches(folder, source.train_files, source.label_key, source.num_classes)
        test_x, test_y = _read_batches(folder, source.test_files, source.label_key, source.num_classes)
        data = ImageData(name, source.num_classes, train_x, train_y, test_x, test_y, *STATS[name])
    if train_per_class is not None:
        data = _train_subset(data, _subset_index(data.train_y, data.num_classes, train_per_class))
    return data


def _subset_index(y: np.ndarray, num_classes: int, n: int) -> np.ndarray:
    """Indices of the first ``n`` members of each class, in archive order."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"train_per_class must be a positive integer, got {n!r}")
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:n] for c in range(num_classes)]))


def _train_subset(data: ImageData, keep: np.ndarray) -> ImageData:
    return ImageData(data.name, data.num_classes, data.train_x[keep], data.train_y[keep],
                     data.test_x, data.test_y, data.mean, data.std)


def synthetic(num_classes: int = 10, n_train: int = 2000, n_test: int = 500, *, seed: int = 0) -> ImageData:
    """A CIFAR-shaped toy dataset that a small CNN learns in seconds on a CPU.

    Each class is a random smooth colour pattern (a sum of four low-frequency waves per channel);
    an image is its class pattern shifted by up to 4 pixels, scaled in contrast, plus pixel noise.
    ``seed`` fixes the dataset (the same for every run); label noise is drawn separately.
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    freq = rng.integers(1, 4, size=(num_classes, 3, 4, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(num_classes, 3, 4))
    waves = np.cos(freq[..., 0, None, None] * yy + freq[..., 1, None, None] * xx + phase[..., None, None])
    patterns = waves.sum(axis=2) / 4  # (K, 3, 40, 40) in [-1, 1]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        dy, dx = rng.integers(0, 9, size=(2, n))
        rows = dy[:, None] + np.arange(32)
        cols = dx[:, None] + np.arange(32)
        img = patterns[y][np.arange(n)[:, None, None, None], np.arange(3)[None, :, None, None],
                          rows[:, None, :, None], cols[:, None, None, :]]
        img = img * rng.uniform(0.5, 1.0, size=(n, 1, 1, 1)) + rng.normal(0, 0.35, size=img.shape)
        pixels = np.clip(127.5 + 100 * img, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(pixels), y.astype(np.int64)

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return ImageData("synthetic", num_classes, train_x, train_y, test_x, test_y, *STATS["synthetic"])


# ----------------------------------------------------------------------------------------------
# Download


def _missing_message(name: str, root: Path, reason: str = "", *, download_tried: bool = False) -> str:
    """What to do about absent data files. The way to let the package download them is offered only
    when it was not tried (download_missing=False, from the command line --no-download): after a
    failed download, asking to download again would send the user round in a circle."""
    source = SOURCES[name]
    files = ", ".join(source.train_files + source.test_files)
    retry = ("" if download_tried else
             ", or let the package download it on a machine with network access (download_missing=True; on the "
             "command line, leave out --no-download)")
    return (
        f"{name} not found under {root}: expected {root / source.folder}/ with {files} "
        f"(the standard python layout).{(' ' + reason) if reason else ''} Download {source.url} "
        f"(md5 {source.md5}) where there is network access and extract it into {root}{retry}. For CIFAR-10 a "
        f"local copy can be written with: python ../shared/tools/cifar10_from_npz.py {root}"
    )


def _urlopen(url: str, timeout: float):  # indirection so tests can serve a local archive
    return urllib.request.urlopen(url, timeout=timeout)


def download(name: str, data_dir: str | os.PathLike, *, timeout: float = 60.0) -> Path:
    """Download and extract ``name``'s canonical archive into ``data_dir``.

    The archive is streamed to a temporary file, its MD5 compared with the published checksum,
    and extracted into a temporary folder that is renamed into place only when complete, so an
    interrupted download leaves nothing half-written. Members that would land outside the
    folder, links and devices are refused.

    Raises
    ------
    DataNotFoundError
        When the network is unreachable (the message says where to put the files by hand).
    ValueError
        When the checksum does not match or the archive is malformed.
    """
    source = SOURCES[name]
    root = Path(data_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = root / source.folder
    if target.exists():
        raise FileExistsError(f"{target} exists but is incomplete; remove it and retry")
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-download-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        digest = hashlib.md5()
        try:
            with _urlopen(source.url, timeout) as response, open(archive, "wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as err:
            raise DataNotFoundError(_missing_message(name, root, f"Downloading it failed ({err}).",
                                                     download_tried=True)) from err
        if digest.hexdigest() != source.md5:
            raise ValueError(f"checksum mismatch for {source.url}: md5 {digest.hexdigest()}, expected "
                             f"{source.md5}; the download is corrupt or was tampered with (nothing was extracted)")
        staging = Path(tmp) / "extract"
        _safe_extract(archive, staging)
        extracted = staging / source.folder
        if _find_folder(staging, source) != extracted:
            raise ValueError(f"{source.url} does not contain {source.folder}/ with the expected batch files")
        os.replace(extracted, target)
    return target


def _safe_extract(archive: Path, dest: Path) -> None:
    dest.mkdir()
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            path = (dest / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not path.is_relative_to(dest.resolve()):
                raise ValueError(f"refusing archive member {member.name!r}: only regular files and "
                                 f"folders inside the archive's own folder are allowed")
        if hasattr(tarfile, "data_filter"):  # Python ≥ 3.11.4: also strip modes and owners
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - members were checked above
            tar.extractall(dest, members=members)


# ----------------------------------------------------------------------------------------------
# Noise


@dataclass(frozen=True)
class NoiseSpec:
    """A label-noise setting; ``str(spec)`` and :meth:`parse` round-trip.

    kind : "clean", "symmetric", "asymmetric", "instance" or "human".
    rate : nominal rate (0 for clean; 0 for human, whose rate is measured).
    variant : the CIFAR-N label set for "human" (aggre, rand1, rand2, rand3, worst, noisy).
    reference : for CIFAR-10 "asymmetric", reproduce the reference code's sequential pair flipping.
    """

    kind: str = "clean"
    rate: float = 0.0
    variant: str | None = None
    reference: bool = False

    KINDS = ("clean", "symmetric", "asymmetric", "instance", "human")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ValueError(f"noise kind must be one of {self.KINDS}, got {self.kind!r}")
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 <= self.rate < 1:
            raise ValueError(f"noise rate must be a number in [0, 1), got {self.rate!r}")
        object.__setattr__(self, "rate", float(self.rate))
        if self.kind in ("clean", "human") and self.rate != 0:
            raise ValueError(f"noise {self.kind!r} takes no rate, got {self.rate}")
        if self.kind == "instance" and round(self.rate, 6) not in INSTANCE_RATES:
            raise ValueError(f"instance-dependent label files exist for rates {INSTANCE_RATES}, got {self.rate}")
        if (self.kind == "human") != (self.variant is not None):
            raise ValueError(f"a label-set name goes with 'human' noise only (e.g. human:worst), "
                             f"got kind {self.kind!r} with variant {self.variant!r}")
        if self.reference and self.kind != "asymmetric":
            raise ValueError("the reference's sequential flipping applies to asymmetric noise only")

    @classmethod
    def parse(cls, text: str | NoiseSpec) -> NoiseSpec:
        """``clean``, ``symmetric:0.8``, ``asymmetric:0.4[:reference]``, ``instance:0.4``, ``human:worst``."""
        if isinstance(text, NoiseSpec):
            return text
        parts = str(text).strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        try:
            if kind == "clean" and not args:
                return cls()
            if kind == "human" and len(args) == 1:
                return cls("human", 0.0, args[0])
            if kind in ("symmetric", "instance") and len(args) == 1:
                return cls(kind, float(args[0]))
            if kind == "asymmetric" and len(args) in (1, 2) and args[1:] in ([], ["reference"]):
                return cls(kind, float(args[0]), reference=len(args) == 2)
        except ValueError as err:
            raise ValueError(f"bad noise setting {text!r}: {err}") from None
        raise ValueError(f"bad noise setting {text!r}; expected clean, symmetric:RATE, asymmetric:RATE"
                         f"[:reference], instance:RATE or human:NAME")

    def __str__(self) -> str:
        if self.kind == "clean":
            return "clean"
        if self.kind == "human":
            return f"human:{self.variant}"
        return f"{self.kind}:{self.rate:g}" + (":reference" if self.reference else "")

    @property
    def paper_key(self) -> tuple[str, float]:
        """(noise, rate) as :func:`theory.losses.paper_defaults` takes them."""
        return self.kind, self.rate


def apply_noise(y: np.ndarray, num_classes: int, dataset: str, spec: NoiseSpec, *, seed: int,
                label_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Noisy labels for clean training labels ``y`` (original order); ``y`` is not modified.

    ``label_dir`` is searched (and its ``cifar-n/`` and ``instance-dependent/`` sub-folders) for
    the instance-dependent and CIFAR-N files.
    """
    spec = NoiseSpec.parse(spec)
    y = np.asarray(y, dtype=np.int64)
    K = num_classes
    if spec.kind == "clean":
        return y.copy()
    if spec.kind == "symmetric":
        return tnoise.sample(y, tnoise.symmetric(K, spec.rate), seed=seed, exact=True)
    if spec.kind == "asymmetric":
        if K == 10:
            return tnoise.flip_pairs(y, tnoise.CIFAR10_PAIRS, spec.rate, seed=seed,
                                     reference_sequential=spec.reference)
        if spec.reference:
            raise ValueError("the reference's sequential flipping is defined for CIFAR-10's pairs only")
        if K % 5 == 0:
            return tnoise.sample(y, tnoise.cifar100_blocks(spec.rate, K=K), seed=seed, exact=True)
        raise ValueError(f"asymmetric noise is defined for 10 classes (CIFAR-10 pairs) or a multiple "
                         f"of 5 (CIFAR-100 blocks), got K={K}")
    if spec.kind == "instance":
        noisy = _instance_labels(dataset, spec.rate, label_dir)
    else:
        noisy = _human_labels(dataset, spec.variant, label_dir, y)
    if noisy.shape != y.shape:
        raise ValueError(f"the {spec} label file has {noisy.shape[0]} labels for {y.shape[0]} training "
                         f"images; it must cover the full training set in original order")
    if noisy.min() < 0 or noisy.max() >= K:
        raise ValueError(f"the {spec} label file has labels outside [0, {K})")
    return noisy


def _label_file(label_dir, name: str, subfolder: str, what: str) -> Path:
    if label_dir is None:
        raise DataNotFoundError(f"{what} needs label_dir (--label-dir), the folder holding {name}")
    root = Path(label_dir).expanduser()
    for candidate in (root / name, root / subfolder / name):
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(f"{what}: {name} not found in {root} or {root / subfolder}; put the file there "
                            f"(see ../shared/data/README.md)")


def _instance_labels(dataset: str, rate: float, label_dir) -> np.ndarray:
    name = f"{dataset}_dependent_{rate:g}.json"
    path = _label_file(label_dir, name, "instance-dependent", f"instance-dependent noise {rate:g}")
    check_size(path, MAX_LABEL_FILE_BYTES, "label file")
    try:
        labels = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path} is not valid JSON ({err}); it may be truncated: fetch it again") from err
    if not isinstance(labels, list):
        raise DataFileError(f"{path} must hold a JSON list of integer labels, got a {type(labels).__name__}")
    return integer_labels(labels, str(path), n=None, num_classes=SOURCES[dataset].num_classes)


def _human_labels(dataset: str, variant: str, label_dir, y_clean: np.ndarray) -> np.ndarray:
    if dataset not in HUMAN_KEYS or variant not in HUMAN_KEYS[dataset]:
        known = {d: sorted(v) for d, v in HUMAN_KEYS.items()}
        raise ValueError(f"human label sets are {known}; got {variant!r} for {dataset!r}")
    path = _label_file(label_dir, HUMAN_FILES[dataset], "cifar-n", f"{dataset} human labels")
    payload = load_torch_zip(path)
    key = HUMAN_KEYS[dataset][variant]
    if not isinstance(payload, dict) or key not in payload or "clean_label" not in payload:
        raise ValueError(f"{path} must hold a dict with 'clean_label' and {key!r}")
    K = SOURCES[dataset].num_classes
    clean = integer_labels(payload["clean_label"], f"{path}, key 'clean_label',", n=None, num_classes=K)
    if clean.shape != y_clean.shape or not np.array_equal(clean, y_clean):
        raise ValueError(f"{path}'s clean_label does not match the training labels index by index; "
                         f"CIFAR-N files need the full training set in original order")
    return integer_labels(payload[key], f"{path}, key {key!r},", n=y_clean.shape[0], num_classes=K)


# ----------------------------------------------------------------------------------------------
# Clean and noisy labels together


@dataclass(frozen=True)
class NoisyData:
    """Images with the clean training labels and the noisy ones used for training, side by side."""

    images: ImageData
    noise: NoiseSpec
    train_noisy: np.ndarray
    noise_seed: int

    @property
    def num_classes(self) -> int:
        return self.images.num_classes

    @property
    def train_clean(self) -> np.ndarray:
        return self.images.train_y

    @property
    def actual_rate(self) -> float:
        """Fraction of training labels that differ from the clean ones."""
        return tnoise.actual_rate(self.train_clean, self.train_noisy)


def load_noisy(dataset: str, noise: str | NoiseSpec = "clean", *, seed: int, data_dir=None,
               label_dir=None, download_missing: bool = True, train_per_class: int | None = None) -> NoisyData:
    """Load ``dataset`` and draw its noisy training labels with ``seed``.

    Generated noise (symmetric, asymmetric) is drawn on the ``train_per_class`` subset, so its
    exact counts hold there; file-based noise (instance, human) is defined on the full training
    set in original order, so it is read first and the subset taken from it.
    """
    spec = NoiseSpec.parse(noise)
    label_dir = label_dir if label_dir is not None else data_dir
    if spec.kind in ("instance", "human"):
        full = load_images(dataset, data_dir, download_missing=download_missing)
        noisy = apply_noise(full.train_y, full.num_classes, dataset, spec, seed=seed, label_dir=label_dir)
        if train_per_class is None:
            return NoisyData(full, spec, noisy, seed)
        keep = _subset_index(full.train_y, full.num_classes, train_per_class)
        return NoisyData(_train_subset(full, keep), spec, noisy[keep], seed)
    images = load_images(dataset, data_dir, download_missing=download_missing, train_per_class=train_per_class)
    noisy = apply_noise(images.train_y, images.num_classes, dataset, spec, seed=seed, label_dir=label_dir)
    return NoisyData(images, spec, noisy, seed)
