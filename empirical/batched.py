"""Many runs of one architecture as one network: grouped convolutions, one set of kernels.

N models of the same architecture become one network whose every layer holds the N layers side
by side, run-major along the channel axis: a ``Conv2d(C, C')`` becomes ``Conv2d(N·C, N·C',
groups=N)``, a ``BatchNorm(C)`` a ``BatchNorm(N·C)`` (per-channel statistics, so per run, running
statistics included), a ``Linear(F, F')`` a :class:`GroupedLinear` (a batched matrix product on
``(B, N, F)``); element-wise layers, pooling and flattening need nothing, because a run's
channels stay contiguous (flattening ``(B, N·C, H, W)`` keeps each run's ``C·H·W`` together).
The module's own ``forward`` is kept, so any architecture built from these layers converts
(``cnn8``, ``resnet34``, ``small``, ``tiny``).

Why grouped convolutions and not ``torch.func.vmap`` over stacked parameters: BatchNorm in
training mode updates its running statistics in place, which vmap cannot batch without replacing
the layers (``replace_all_batch_norm_modules_`` drops the running statistics, and so changes what
the network predicts in eval mode); a grouped convolution is one cuDNN kernel per layer for all N
runs and keeps BatchNorm exact. Each run still has its own input batch (its own order and
augmentation), its own labels and its own loss: the runs' batches are concatenated along the
channel axis, and the objective is the sum of the runs' mean losses, so each run's parameters get
exactly its own gradient. Gradient clipping is per run (each run's norm over its own slices).

:func:`group` builds the grouped network from N models (their weights copied in), :func:`ungroup`
gives the N models back (for evaluation, risk measurement and result files).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, fields

import torch
from torch import nn

__all__ = ["BatchedLearner", "GroupedLinear", "RunLosses", "batched_step", "build_batched_learner", "clip_per_run", "compatible", "group",
           "join_optimizer_states", "run_checkpoints", "run_norms", "runs_loader", "split_optimizer_state",
           "train_batched", "ungroup"]


class GroupedLinear(nn.Module):
    """N linear layers ``F → F'`` applied to ``(B, N·F)`` (run-major), giving ``(B, N·F')``."""

    def __init__(self, n: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.n, self.in_features, self.out_features = n, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        h = x.reshape(B, self.n, self.in_features).transpose(0, 1)  # (N, B, F)
        out = torch.bmm(h, self.weight.transpose(1, 2))  # (N, B, F')
        if self.bias is not None:
            out = out + self.bias[:, None, :]
        return out.transpose(0, 1).reshape(B, self.n * self.out_features)

    def extra_repr(self) -> str:
        return f"n={self.n}, in_features={self.in_features}, out_features={self.out_features}"


def _grouped_leaf(layers: list[nn.Module]) -> nn.Module | None:
    """The grouped version of N copies of one leaf layer (weights copied), or None when the layer
    acts per channel or element and needs nothing."""
    first, n = layers[0], len(layers)
    cat = lambda name: torch.cat([getattr(m, name).detach() for m in layers])  # noqa: E731
    if isinstance(first, nn.Conv2d):
        out = nn.Conv2d(n * first.in_channels, n * first.out_channels, first.kernel_size, first.stride,
                        first.padding, first.dilation, n * first.groups, first.bias is not None, first.padding_mode)
        with torch.no_grad():
            out.weight.copy_(cat("weight"))
            if first.bias is not None:
                out.bias.copy_(cat("bias"))
        return out.to(first.weight.device, first.weight.dtype)
    if isinstance(first, nn.modules.batchnorm._BatchNorm):
        out = type(first)(n * first.num_features, first.eps, first.momentum, first.affine, first.track_running_stats)
        with torch.no_grad():
            if first.affine:
                out.weight.copy_(cat("weight"))
                out.bias.copy_(cat("bias"))
            if first.track_running_stats:
                out.running_mean.copy_(cat("running_mean"))
                out.running_var.copy_(cat("running_var"))
                out.num_batches_tracked.copy_(first.num_batches_tracked)
        return out.to(first.weight.device if first.affine else first.running_mean.device)
    if isinstance(first, nn.Linear):
        out = GroupedLinear(n, first.in_features, first.out_features, first.bias is not None)
        with torch.no_grad():
            out.weight.copy_(torch.stack([m.weight.detach() for m in layers]))
            if first.bias is not None:
                out.bias.copy_(torch.stack([m.bias.detach() for m in layers]))
        return out.to(first.weight.device, first.weight.dtype)
    if list(first.parameters(recurse=False)) or list(first.buffers(recurse=False)):
        raise TypeError(f"cannot group {type(first).__name__}: it has parameters or buffers and no grouped "
                        "version (grouped: Conv2d, BatchNorm, Linear)")
    return None


def group(models: list[nn.Module]) -> nn.Module:
    """One network computing all ``models`` (same architecture) side by side (module docstring).
    Input ``(B, N·C, H, W)``: run r's images in channels ``r·C … (r+1)·C − 1``; output
    ``(B, N·K)``, run-major (reshape to ``(B, N, K)``)."""
    if not models:
        raise ValueError("group needs at least one model, got none")
    shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError("group needs models of one architecture (the same parameter names and shapes)")
    grouped = copy.deepcopy(models[0])
    names = [n for n, m in models[0].named_modules() if not list(m.children())]
    for name in names:
        leaf = _grouped_leaf([m.get_submodule(name) for m in models])
        if leaf is not None:
            parent, _, child = name.rpartition(".")
            setattr(grouped.get_submodule(parent) if parent else grouped, child, leaf)
    grouped.runs = len(models)
    return grouped


def ungroup(grouped: nn.Module, template: nn.Module) -> list[nn.Module]:
    """The N single models of ``grouped`` (copies of ``template`` with each run's slices)."""
    n = grouped.runs
    out = [copy.deepcopy(template) for _ in range(n)]
    for name, module in template.named_modules():
        if list(module.children()):
            continue
        g = grouped.get_submodule(name)
        for r, single in enumerate(out):
            s = single.get_submodule(name)
            with torch.no_grad():
                for pname, p in list(s.named_parameters(recurse=False)) + list(s.named_buffers(recurse=False)):
                    src = getattr(g, pname)
                    if pname == "num_batches_tracked":
                        p.copy_(src)
                    elif isinstance(g, GroupedLinear):
                        p.copy_(src[r])
                    else:
                        size = p.shape[0]
                        p.copy_(src[r * size:(r + 1) * size])
    return out


def _stacked(net: nn.Module) -> list[bool]:
    """Per parameter of ``net`` (in ``net.parameters()`` order): True where the runs are stacked
    on a new first axis (GroupedLinear), False where they are concatenated along the first."""
    return [isinstance(m, GroupedLinear) for m in net.modules() for _ in m.parameters(recurse=False)]


def _part(t: torch.Tensor, r: int, n: int, stacked: bool) -> torch.Tensor:
    return t[r] if stacked else t[r * (t.shape[0] // n):(r + 1) * (t.shape[0] // n)]


def _join(parts: list[torch.Tensor], stacked: bool) -> torch.Tensor:
    return torch.stack(parts) if stacked else torch.cat(parts)


def split_optimizer_state(state: dict, net: nn.Module) -> list[dict]:
    """The grouped SGD's ``state_dict`` as N single-model ones (each run's momentum slices)."""
    n, stacked = net.runs, _stacked(net)
    out = []
    for r in range(n):
        per = {i: {k: _part(v, r, n, stacked[i]).clone() if torch.is_tensor(v) and v.ndim else v
                   for k, v in entry.items()} for i, entry in state["state"].items()}
        out.append({"state": per, "param_groups": copy.deepcopy(state["param_groups"])})
    return out


def join_optimizer_states(states: list[dict], net: nn.Module) -> dict:
    """N single-model SGD ``state_dict``s as the grouped one (the inverse of :func:`split_optimizer_state`)."""
    stacked = _stacked(net)
    joined = {}
    for i in states[0]["state"]:
        joined[i] = {k: _join([s["state"][i][k] for s in states], stacked[i]) if torch.is_tensor(v) and v.ndim else v
                     for k, v in states[0]["state"][i].items()}
    return {"state": joined, "param_groups": copy.deepcopy(states[0]["param_groups"])}


def run_norms(grouped: nn.Module) -> torch.Tensor:
    """Each run's gradient norm over its own slices of every parameter: ``(N,)``."""
    n = grouped.runs
    total = None
    for p in grouped.parameters():
        if p.grad is None:
            continue
        sq = p.grad.detach().reshape(n, -1).float().pow(2).sum(1)
        total = sq if total is None else total + sq
    return total.sqrt() if total is not None else torch.zeros(n)


#: torch.nn.utils.clip_grad_norm_'s ε in max_norm/(norm + ε): a run is clipped as it would be alone
CLIP_EPS = 1e-6


def clip_per_run(grouped: nn.Module, max_norm: float) -> torch.Tensor:
    """``clip_grad_norm_`` applied to each run separately (its coefficient max_norm/(norm + CLIP_EPS),
    at most 1, as torch computes it); returns the runs' norms before clipping."""
    norms = run_norms(grouped)
    coef = torch.clamp(max_norm / (norms + CLIP_EPS), max=1.0)
    n = grouped.runs
    for p in grouped.parameters():
        if p.grad is not None:
            p.grad.detach().reshape(n, -1).mul_(coef.to(p.grad.dtype)[:, None])
    return norms


# ----------------------------------------------------------------------------------------------
# Training N runs together

#: what may differ between runs trained together: everything else is one network and one protocol
PER_RUN = ("seed", "noise", "method", "params")


def shared(cfg) -> dict:
    """What runs trained together must share: every field of the config but :data:`PER_RUN`."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in PER_RUN}


def compatible(cfgs) -> None:
    """Raise ValueError unless the resolved configs differ only in :data:`PER_RUN`."""
    first = shared(cfgs[0])
    for cfg in cfgs[1:]:
        differ = [k for k, v in shared(cfg).items() if v != first[k]]
        if differ:
            raise ValueError(f"runs trained together must share everything but {', '.join(PER_RUN)}; "
                             f"{cfg.run_id} differs from {cfgs[0].run_id} in {', '.join(differ)}")


class RunLosses(nn.Module):
    """Every run's per-example loss from the grouped network's logits: ``(B, N, K)`` logits and
    ``(B, N)`` labels in, ``(N, B)`` values out (row r: run r's values, as its criterion gives
    them alone).

    Runs with the same loss (method and parameters: a sweep over seeds or noise) share one call
    of one criterion on all their rows, which is exact, because every loss here is per example.
    Under ``compile`` this module is compiled whole, so the runs' different losses (an m sweep)
    fuse into a few kernels instead of one set per run.

    ``live`` (bool ``(N,)``, optional) leaves stopped runs out of the objective: their values are
    still computed (for the record), but no gradient flows from them, not even a 0 multiplied by
    a non-finite derivative. (The runs' parameters are apart in any case, mask or not: a run
    with NaN parameters leaves the others' step unchanged to the bit, tested.)
    """

    def __init__(self, criteria: list[nn.Module], keys: list):
        super().__init__()
        groups: dict = {}
        for r, key in enumerate(keys):
            groups.setdefault(key, []).append(r)
        self.groups = [tuple(runs) for runs in groups.values()]
        self.criteria = nn.ModuleList([criteria[runs[0]] for runs in self.groups])
        order = [r for runs in self.groups for r in runs]
        # index tensors as buffers, so they live on the device: indexing a CUDA tensor with a
        # Python list copies the list to the device and waits for the copy, in every step
        self.register_buffer("order", torch.tensor(order), persistent=False)
        self.register_buffer("inverse", torch.tensor([order.index(r) for r in range(len(keys))]), persistent=False)
        self.whole = len(self.groups) == 1  # one loss for every run: no gathering at all

    def forward(self, logits: torch.Tensor, ys: torch.Tensor, live: torch.Tensor | None = None) -> torch.Tensor:
        B, _, K = logits.shape
        if live is not None:  # gradients reach the live runs' logits only
            logits = torch.where(live[None, :, None], logits, logits.detach())
        z = logits.transpose(0, 1) if self.whole else logits.transpose(0, 1).index_select(0, self.order)  # (N, B, K)
        y = ys.t() if self.whole else ys.t().index_select(0, self.order)
        values, start = [], 0
        for runs, criterion in zip(self.groups, self.criteria):
            part = slice(start, start + len(runs))
            values.append(criterion(z[part].reshape(-1, K), y[part].reshape(-1)).reshape(len(runs), B))
            start += len(runs)
        return values[0] if self.whole else torch.cat(values).index_select(0, self.inverse)


@dataclass
class BatchedLearner:
    """The grouped network of N runs (``net``; ``forward`` is it or its compiled version;
    ``template`` one single model, for :func:`ungroup`), one SGD and cosine schedule over it, and
    the runs' losses (``losses``: :class:`RunLosses`, or its compiled version)."""

    net: nn.Module
    forward: object
    template: nn.Module
    losses: object
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    cfg: object  # the first run's resolved config: the shared protocol
    num_classes: int

    @property
    def runs(self) -> int:
        return self.net.runs


def build_batched_learner(cfgs, num_classes: int, device, states: list[dict] | None = None) -> BatchedLearner:
    """Each run initialised from its seed exactly as :func:`empirical.train.build_learner` would
    (``torch.manual_seed(seed)`` then the model), grouped; resolved, compatible ``cfgs``. With
    ``states`` (one single-run checkpoint per run, all at the same epoch) every run continues
    from its checkpoint: model, momentum and schedule."""
    from empirical.models import build_model

    compatible(cfgs)
    first = cfgs[0]
    singles = []
    for r, cfg in enumerate(cfgs):
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, num_classes).to(device)
        if states is not None:
            model.load_state_dict(states[r]["model"])
        singles.append(model)
    net = group(singles)
    if first.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=first.lr, momentum=first.momentum, weight_decay=first.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=first.epochs)
    if states is not None:
        optimizer.load_state_dict(join_optimizer_states([s["optimizer"] for s in states], net))
        schedule.load_state_dict(states[0]["schedule"])
    losses = RunLosses([cfg.build_loss().torch(reduction="none", validate=False) for cfg in cfgs],
                       [(cfg.method, cfg.params) for cfg in cfgs]).to(device)
    compiled = torch.compile if first.compile else (lambda module: module)
    return BatchedLearner(net, compiled(net), singles[0], compiled(losses), optimizer, schedule, first, num_classes)


def run_checkpoints(learner: BatchedLearner, cfgs, loaders, results, device) -> list[dict]:
    """Each run's checkpoint, in the single-run format of :func:`empirical.train.train` (so a run
    can resume alone or in any batch)."""
    from empirical.train import checkpoint_state

    models = ungroup(learner.net, learner.template)
    optimizers = split_optimizer_state(learner.optimizer.state_dict(), learner.net)
    return [checkpoint_state(cfg, model, opt, learner.schedule, loader, res, device)
            for cfg, model, opt, loader, res in zip(cfgs, models, optimizers, loaders, results)]


def runs_loader(cfgs, datas):
    """The training batches of the resolved, compatible runs ``cfgs`` (one
    :class:`~empirical.train.DeviceData` each) stepped together, as :func:`train_batched` steps
    them: each run's loader seeded by its config, as :func:`empirical.train.train` seeds it."""
    from empirical.loader import DeviceLoader, RunsLoader

    return RunsLoader([DeviceLoader(d.train_x, batch_size=cfg.batch_size, mean=d.mean, std=d.std, augment=cfg.augment,
                                    seed=cfg.seed, channels_last=cfg.channels_last) for cfg, d in zip(cfgs, datas)])


def batched_step(learner: BatchedLearner, x: torch.Tensor, ys: torch.Tensor,
                 live: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of every run on its own batch: ``x`` ``(B, N·C, H, W)`` and ``ys`` ``(B, N)``
    as :class:`~empirical.loader.RunsLoader` lays them out. The grouped forward, each run's loss
    on its fp32 logits, the sum of the runs' means (of the ``live`` ones, bool ``(N,)``, when
    given) differentiated once, clipping per run, the step. Returns the per-example losses
    ``(N, B)`` and the logits ``(B, N, K)``."""
    from empirical.train import _autocast

    n, K, cfg = learner.runs, learner.num_classes, learner.cfg
    with _autocast(x.device, cfg.precision):
        logits = learner.forward(x).reshape(x.shape[0], n, K)
    values = learner.losses(logits.float(), ys, live)
    means = values.mean(1)
    total = (means if live is None else torch.where(live, means, 0.0)).sum()
    learner.optimizer.zero_grad(set_to_none=True)
    total.backward()
    clip_per_run(learner.net, cfg.grad_clip)
    learner.optimizer.step()
    return values.detach(), logits.detach()


def train_batched(cfgs, datas, *, states: list[dict | None] | None = None, checkpoints: list | None = None,
                  checkpoint_every_s: float = 60.0, on_step=None):
    """Train the runs ``cfgs`` (one :class:`~empirical.train.DeviceData` each, on one device)
    together; returns one :class:`~empirical.train.TrainResult` per run, with its own model.

    Each run is what :func:`empirical.train.train` would make of it: initialised from its seed,
    its own loader (batch order and augmentation from its seed), its labels, its loss, SGD with
    momentum and weight decay, the cosine schedule, gradient clipping per run. A run whose loss
    becomes non-finite stops at the end of that epoch, as alone ("diverged"); the others go on.
    ``states``: validated single-run checkpoints to continue from (all or none, at one epoch);
    ``checkpoints``: where each run's checkpoint goes (single-run format, atomically, every
    ``checkpoint_every_s`` seconds at the end of an epoch). ``on_step(step, values)`` sees each
    step's per-run loss values (for tests). The epoch's seconds are shared out equally.
    """
    from empirical.train import TrainResult, save_atomic

    cfgs = [c.resolved() for c in cfgs]
    if len(cfgs) != len(datas) or not cfgs:
        raise ValueError(f"train_batched needs one DeviceData per config, got {len(cfgs)} configs and {len(datas)}")
    device = datas[0].train_x.device
    K = datas[0].num_classes
    resumed = states is not None and any(st is not None for st in states)
    if resumed and (any(st is None for st in states) or len({len(st["history"]) for st in states}) > 1):
        at = [None if st is None else len(st["history"]) for st in states]
        raise ValueError(f"runs resumed together must all have a checkpoint at one epoch, got epochs {at}")
    learner = build_batched_learner(cfgs, K, device, states if resumed else None)
    first, n = learner.cfg, learner.runs
    batches = runs_loader(cfgs, datas)
    loaders = batches.loaders
    noisy = torch.stack([d.train_noisy for d in datas], 1)  # (images, N): column r is run r's labels
    clean = torch.stack([d.train_clean for d in datas], 1)
    results = [TrainResult(learner.template) for _ in cfgs]
    start = 0
    if resumed:
        for loader, res, st in zip(loaders, results, states):
            loader.load_state_dict(st["loader"])
            res.history, res.train_seconds = list(st["history"]), st["train_seconds"]
            res.resumed_from_epoch = len(st["history"])
        start = results[0].resumed_from_epoch
    live, live_mask = list(range(n)), None  # the mask only once a run has stopped
    step = 0
    learner.net.train()
    size = datas[0].train_x.shape[0]
    last_save = time.monotonic()
    for epoch in range(start, first.epochs):
        t0 = time.perf_counter()
        loss_sum = torch.zeros(n, device=device, dtype=torch.float64)
        hits = torch.zeros(n, 2, device=device, dtype=torch.int64)  # vs noisy, vs clean labels
        for x, idx in batches:
            ys = noisy.gather(0, idx)
            values, logits = batched_step(learner, x, ys, live_mask)
            with torch.no_grad():
                loss_sum += values.sum(1)
                pred = logits.argmax(2)
                hits += torch.stack([(pred == ys).sum(0), (pred == clean.gather(0, idx)).sum(0)], 1)
            if on_step is not None:
                on_step(step, values)
            step += 1
        lr = learner.optimizer.param_groups[0]["lr"]
        learner.schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - t0
        accs = _test_accuracy(learner.net, datas[0], first)
        stats = torch.cat([loss_sum[:, None] / size, hits.double() / size, accs[:, None]], 1).tolist()  # one sync
        seconds = time.perf_counter() - t0
        for r in list(live):
            if not results[r].add_epoch(epoch + 1, lr, stats[r], train_seconds / n, seconds / n):
                live.remove(r)
        if not live:
            break
        if len(live) < n:
            live_mask = torch.tensor([r in live for r in range(n)], device=device)
        if checkpoints is not None and epoch + 1 < first.epochs and time.monotonic() - last_save >= checkpoint_every_s:
            for r, state in enumerate(run_checkpoints(learner, cfgs, loaders, results, device)):
                if r in live:
                    save_atomic(state, checkpoints[r])
            last_save = time.monotonic()
    for result, model in zip(results, ungroup(learner.net, learner.template)):
        result.model = model
    return results


class _SameInput(nn.Module):
    """The grouped network fed the same images for every run (the test set): ``(B, C, H, W)`` in,
    ``(B, N·K)`` out, so :func:`empirical.train.predict` evaluates all runs at once."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.repeat(1, self.net.runs, 1, 1))


def _test_accuracy(net: nn.Module, data, cfg) -> torch.Tensor:
    """Each run's clean test accuracy on ``data``'s test set (the same for every run): ``(N,)``.
    Only each batch's predictions are kept, not its logits (at N = 64 and K = 100 on the
    CIFAR-100 test set those would be 256 MB)."""
    from empirical.train import predict

    n = net.runs
    predictions = predict(_SameInput(net), data.test_x, data.mean, data.std, precision=cfg.precision,
                          channels_last=cfg.channels_last, each=lambda z: z.reshape(z.shape[0], n, -1).argmax(2))
    return (predictions == data.test_y[:, None]).double().mean(0)
