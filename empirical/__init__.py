"""empirical: fast PyTorch training on CIFAR under label noise, measuring risk against the bounds.

Losses and noise models come from :mod:`theory` (never re-implemented here). Modules:

- :mod:`empirical.data`: CIFAR-10/100 (standard python layout, checksum-verified download),
  CIFAR-N and instance-dependent label files (read without executing pickle code), a synthetic
  stand-in; clean and noisy training labels side by side (:class:`~empirical.data.NoisyData`).
- :mod:`empirical.loader`: the dataset as one device tensor, batched crop / flip / rotation.
- :mod:`empirical.models`: the paper's 8-layer CNN and CIFAR ResNet-34, small nets for CPU runs.
- :mod:`empirical.config`: :class:`~empirical.config.RunConfig` and the paper's protocols.
- :mod:`empirical.train`: the trainer (bf16, channels-last, torch.compile, checkpoints).
- :mod:`empirical.risk`: clean/noisy risk, the observed sum range and Theorem B's bound.
- :mod:`empirical.run`, :mod:`empirical.sweep`, :mod:`empirical.table`: result files, resumable
  sweeps (local or SLURM via submitit) and mean ± std tables.

Command line: ``python -m empirical run|sweep|table --help``.
"""

from theory.xp import require_torch as _require_torch

_require_torch()  # before any module here imports torch: a clear error when it is missing or older than 2.2
