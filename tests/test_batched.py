"""Many runs as one grouped network: the same functions, the same first steps, the same runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from empirical.batched import clip_per_run, compatible, group, runs_loader, train_batched, ungroup  # noqa: E402
from empirical.config import RunConfig  # noqa: E402
from empirical.data import load_noisy  # noqa: E402
from empirical.loader import DeviceLoader  # noqa: E402
from empirical.models import build_model  # noqa: E402
from empirical.train import DeviceData, build_learner, train, train_step  # noqa: E402

TINY = dict(dataset="synthetic", model="tiny", epochs=2, train_per_class=20, batch_size=32)


def _models(name, n, K=10):
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(build_model(name, K))
    return out


def _data(cfg):
    return DeviceData.from_noisy(load_noisy(cfg.dataset, cfg.noise, seed=cfg.seed,
                                            train_per_class=cfg.train_per_class), "cpu")


@pytest.mark.parametrize("name", ["tiny", "small", "cnn8", "resnet34"])
def test_the_grouped_network_computes_each_model(name):
    models = _models(name, 3)
    net = group(models)
    x = torch.randn(4, 3, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # (B, N, C, H, W)
    for mode in ("train", "eval"):
        for m in [net, *models]:
            m.train(mode == "train")
        out = net(x.reshape(4, 9, 32, 32)).reshape(4, 3, -1)
        for r, m in enumerate(models):
            torch.testing.assert_close(out[:, r], m(x[:, r]), rtol=1e-4, atol=1e-5)
    # BatchNorm's running statistics moved per run, as in each model (train-mode passes above)
    back = ungroup(net, models[0])
    for single, m in zip(back, models):
        for (k, a), b in zip(single.state_dict().items(), m.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=k)


def test_ungroup_returns_the_models_exactly():
    models = _models("tiny", 4)
    back = ungroup(group(models), models[0])
    for a, b in zip(back, models):
        for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), k


def test_gradient_clipping_is_per_run_as_torch_clips_one_model():
    models = _models("tiny", 3)
    net = group(models)
    x = torch.randn(8, 3, 3, 32, 32)
    scale = torch.tensor([1.0, 30.0, 0.01])  # one run far above the threshold, one far below
    (net(x.reshape(8, 9, 32, 32)).reshape(8, 3, -1).pow(2).mean((0, 2)) * scale).sum().backward()
    for r, m in enumerate(models):
        (m(x[:, r]).pow(2).mean() * scale[r]).backward()
    clip_per_run(net, 1.0)
    for m in models:
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    for r, single in enumerate(ungroup_grads(net, models[0])):
        for g, m_p in zip(single, models[r].parameters()):
            torch.testing.assert_close(g, m_p.grad, rtol=1e-4, atol=1e-7)


def ungroup_grads(net, template):
    """Each run's gradients, in ``template``'s parameter order (the grads put in a grouped copy)."""
    holder = group([template] * net.runs)
    with torch.no_grad():
        for p, q in zip(holder.parameters(), net.parameters()):
            p.copy_(q.grad)
    return [list(m.parameters()) for m in ungroup(holder, template)]


def _runs():
    return [RunConfig(noise="symmetric:0.4", method="ce_eps+mae", params=(("m", 10.0),), seed=1, **TINY),
            RunConfig(noise="symmetric:0.6", method="ce_eps+mae", params=(("m", 1e4),), seed=2, **TINY),
            RunConfig(noise="clean", method="ce", seed=3, **TINY)]


def test_batched_runs_take_the_first_steps_of_the_single_runs():
    cfgs = [c.resolved() for c in _runs()]
    datas = [_data(c) for c in cfgs]
    steps = 5
    batched = []
    train_batched([dataclasses.replace(c, epochs=1) for c in cfgs], datas,
                  on_step=lambda s, v: batched.append([t.clone() for t in v]) if s < steps else None)
    for r, (cfg, data) in enumerate(zip(cfgs, datas)):
        learner = build_learner(dataclasses.replace(cfg, epochs=1), data.num_classes, "cpu")
        loader = DeviceLoader(data.train_x, batch_size=cfg.batch_size, mean=data.mean, std=data.std,
                              augment=cfg.augment, seed=cfg.seed)
        for s, (x, idx) in zip(range(steps), loader):
            values, _ = train_step(learner, cfg, x, data.train_noisy[idx])
            torch.testing.assert_close(batched[s][r], values.detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_batched_runs_end_where_the_single_runs_end():
    cfgs = _runs()
    datas = [_data(c.resolved()) for c in cfgs]
    together = train_batched(cfgs, datas)
    for cfg, data, res in zip(cfgs, datas, together):
        alone = train(cfg, data)
        assert res.status == alone.status == "finished" and len(res.history) == len(alone.history) == 2
        for a, b in zip(res.history, alone.history):
            assert a["lr"] == pytest.approx(b["lr"])
            assert abs(a["test_acc"] - b["test_acc"]) <= 0.02  # float-level differences, a 200-image test set
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        for p, q in zip(res.model.parameters(), alone.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)


def test_run_losses_are_each_runs_own_criterion_whatever_the_grouping():
    from empirical.batched import RunLosses

    cfgs = [dataclasses.replace(c.resolved(), seed=s) for c, s in zip(_runs() * 2, range(6))]  # 3 losses, 2 runs each
    order = [5, 0, 3, 1, 4, 2]  # the runs sharing a loss apart, not in order
    cfgs = [cfgs[i] for i in order]
    criteria = [c.build_loss().torch(reduction="none", validate=False) for c in cfgs]
    losses = RunLosses(criteria, [(c.method, c.params) for c in cfgs])
    assert sorted(len(g) for g in losses.groups) == [2, 2, 2]  # one criterion call per distinct loss
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 6, 10, generator=g) * 3
    ys = torch.randint(0, 10, (7, 6), generator=g)
    values = losses(logits, ys)
    for r, criterion in enumerate(criteria):
        torch.testing.assert_close(values[r], criterion(logits[:, r], ys[:, r]), rtol=1e-6, atol=1e-7)


def test_a_stopped_run_does_not_reach_the_others():
    """One run's parameters poisoned with NaN: the others take the step they take beside a
    healthy run, to the bit, with the stopped run out of the objective or (its loss NaN) in it."""
    from empirical.batched import batched_step, build_batched_learner

    cfgs = [c.resolved() for c in _runs()]
    datas = [_data(c) for c in cfgs]
    x, idx = next(iter(runs_loader(cfgs, datas)))
    ys = torch.stack([d.train_noisy for d in datas], 1).gather(0, idx)

    def stepped(poison: bool, live):
        learner = build_batched_learner(cfgs, datas[0].num_classes, "cpu")
        if poison:
            with torch.no_grad():
                first = next(learner.net.parameters())
                first[first.shape[0] // 3:2 * first.shape[0] // 3] = float("nan")  # run 1's slice
        values, _ = batched_step(learner, x, ys, live)
        return ungroup(learner.net, learner.template), values

    healthy, _ = stepped(False, None)
    for live in (torch.tensor([True, False, True]), None):
        poisoned, values = stepped(True, live)
        assert values[1].isnan().all() and values[[0, 2]].isfinite().all()
        for r in (0, 2):
            for (k, a), b in zip(poisoned[r].state_dict().items(), healthy[r].state_dict().values()):
                assert torch.equal(a, b), (r, k)


def test_runs_trained_together_must_share_the_network_and_protocol():
    a, b = (c.resolved() for c in _runs()[:2])
    compatible([a, b])  # seeds, noise, method and parameters may differ
    with pytest.raises(ValueError, match="differs from .* in lr"):
        compatible([a, dataclasses.replace(b, lr=0.5)])
    with pytest.raises(ValueError, match="in model"):
        compatible([a, dataclasses.replace(b, model="small")])
    with pytest.raises(ValueError, match="one architecture"):
        group([build_model("tiny", 10), build_model("small", 10)])


def test_a_layer_without_a_grouped_version_is_refused():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.scale

    with pytest.raises(TypeError, match="cannot group Odd"):
        group([Odd(), Odd()])


def test_the_grouped_network_is_one_kernel_per_layer():
    net = group(_models("tiny", 5))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.groups == 5 for c in convs)
    single = sum(p.numel() for p in _models("tiny", 1)[0].parameters())
    assert np.isclose(sum(p.numel() for p in net.parameters()), 5 * single)


@pytest.mark.gpu
def test_the_grouped_network_computes_each_model_on_the_gpu():
    models = [m.cuda() for m in _models("cnn8", 4)]
    net = group(models)
    x = torch.randn(8, 4, 3, 32, 32, device="cuda")
    out = net(x.reshape(8, 12, 32, 32)).reshape(8, 4, -1)
    for r, m in enumerate(models):
        torch.testing.assert_close(out[:, r], m(x[:, r]), rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
def test_batched_runs_take_the_first_steps_of_the_single_runs_on_the_gpu():
    cfgs = [c.resolved() for c in _runs()]
    datas = [DeviceData.from_noisy(load_noisy(c.dataset, c.noise, seed=c.seed, train_per_class=c.train_per_class),
                                   "cuda") for c in cfgs]
    batched = []
    train_batched([dataclasses.replace(c, epochs=1) for c in cfgs], datas,
                  on_step=lambda s, v: batched.append([t.clone() for t in v]) if s < 3 else None)
    for r, (cfg, data) in enumerate(zip(cfgs, datas)):
        learner = build_learner(dataclasses.replace(cfg, epochs=1), data.num_classes, "cuda")
        loader = DeviceLoader(data.train_x, batch_size=cfg.batch_size, mean=data.mean, std=data.std,
                              augment=cfg.augment, seed=cfg.seed)
        for s, (x, idx) in zip(range(3), loader):
            values, _ = train_step(learner, cfg, x, data.train_noisy[idx])
            torch.testing.assert_close(batched[s][r], values.detach(), rtol=1e-3, atol=1e-4)


class _Killed(Exception):
    pass


def _strip(history):
    return [{k: v for k, v in h.items() if "seconds" not in k} for h in history]


@pytest.mark.slow
def test_a_killed_batch_resumes_from_each_runs_checkpoint(tmp_path):
    from empirical.train import _load_checkpoint

    cfgs = [dataclasses.replace(c, epochs=3).resolved() for c in _runs()]
    datas = [_data(c) for c in cfgs]
    straight = train_batched(cfgs, datas)
    paths = [tmp_path / f"{c.run_id}.pt" for c in cfgs]
    steps_per_epoch = -(-datas[0].train_x.shape[0] // cfgs[0].batch_size)

    def kill(step, _values):
        if step == steps_per_epoch + 2:  # in the second epoch, after the first epoch's checkpoints
            raise _Killed

    with pytest.raises(_Killed):
        train_batched(cfgs, datas, checkpoints=paths, checkpoint_every_s=0.0, on_step=kill)
    states = [_load_checkpoint(p, c, "cpu") for p, c in zip(paths, cfgs)]
    assert all(len(s["history"]) == 1 for s in states)
    resumed = train_batched(cfgs, datas, states=states, checkpoints=paths, checkpoint_every_s=0.0)
    for a, b in zip(resumed, straight):
        assert a.resumed_from_epoch == 1 and _strip(a.history) == _strip(b.history)
        for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()):
            assert torch.equal(p, q)
    # a run's checkpoint has the single-run format: the run can also resume alone
    alone = train(cfgs[1], datas[1], checkpoint=paths[1])
    assert alone.resumed_from_epoch == 2 and len(alone.history) == 3
    assert alone.history[-1]["train_loss"] == pytest.approx(straight[1].history[-1]["train_loss"], rel=1e-3)


def test_runs_resumed_together_must_stand_at_one_epoch(tmp_path):
    cfgs = [c.resolved() for c in _runs()[:2]]
    datas = [_data(c) for c in cfgs]
    with pytest.raises(ValueError, match=r"at one epoch, got epochs \[None, 1\]"):
        train_batched(cfgs, datas, states=[None, {"history": [{}]}])


@pytest.mark.slow
def test_a_compiled_batch_trains_like_the_eager_one():
    cfgs = [dataclasses.replace(c, epochs=1).resolved() for c in _runs()[:2]]
    datas = [_data(c) for c in cfgs]
    eager = train_batched(cfgs, datas)
    compiled = train_batched([dataclasses.replace(c, compile=True) for c in cfgs], datas)
    for a, b in zip(compiled, eager):
        assert a.status == "finished"
        assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-3)


def _host_reads_and_writes(step_fn) -> list[str]:
    """The operators ``step_fn()`` dispatches that build a tensor from Python data
    (``lift_fresh``: on a GPU, a copy to the device and a wait) or read a value back to Python
    (``_local_scalar_dense``: ``.item()``, a wait), on any device: the CPU's view of what the GPU
    tests below check with CUDA's sync debug mode."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with Record() as record:
        step_fn()
    assert len(record.seen) > 100  # the step's forward, backward and update were seen
    return [op for op in record.seen if "lift_fresh" in op or "_local_scalar_dense" in op]


def test_a_training_step_neither_builds_nor_reads_host_values():
    cfg = _runs()[0].resolved()
    data = _data(cfg)
    learner = build_learner(cfg, data.num_classes, "cpu")
    batches = iter(DeviceLoader(data.train_x, batch_size=cfg.batch_size, mean=data.mean, std=data.std,
                                augment=cfg.augment, seed=cfg.seed))

    def step():
        x, idx = next(batches)
        train_step(learner, cfg, x, data.train_noisy[idx])

    step()
    assert _host_reads_and_writes(step) == []


def test_a_batched_step_neither_builds_nor_reads_host_values():
    from empirical.batched import batched_step, build_batched_learner

    cfgs = [c.resolved() for c in _runs()]
    datas = [_data(c) for c in cfgs]
    learner = build_batched_learner(cfgs, datas[0].num_classes, "cpu")
    batches = iter(runs_loader(cfgs, datas))
    noisy = torch.stack([d.train_noisy for d in datas], 1)
    live = torch.tensor([True, False, True])

    def step(mask):
        x, idx = next(batches)
        batched_step(learner, x, noisy.gather(0, idx), mask)

    step(None)  # warm-up: lazy state (momentum buffers) is created once
    assert _host_reads_and_writes(lambda: step(None)) == []
    assert _host_reads_and_writes(lambda: step(live)) == []


def _sync_free(step_fn, steps: int = 3) -> None:
    """Run ``step_fn(i)`` with CUDA's sync debug mode set to raise on any host synchronisation
    (after one warm-up step outside it: lazy initialisation may synchronise once)."""
    step_fn(0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(1, steps + 1):
            step_fn(i)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
def test_a_training_step_never_waits_for_the_gpu():
    cfg = dataclasses.replace(_runs()[0], model="cnn8").resolved()
    data = DeviceData.from_noisy(load_noisy(cfg.dataset, cfg.noise, seed=cfg.seed, train_per_class=cfg.train_per_class),
                                 "cuda")
    learner = build_learner(cfg, data.num_classes, "cuda")
    batches = iter(DeviceLoader(data.train_x, batch_size=cfg.batch_size, mean=data.mean, std=data.std,
                                augment=cfg.augment, seed=cfg.seed))

    def step(_):
        x, idx = next(batches)
        train_step(learner, cfg, x, data.train_noisy[idx])

    _sync_free(step)


@pytest.mark.gpu
def test_a_batched_step_never_waits_for_the_gpu():
    from empirical.batched import batched_step, build_batched_learner

    cfgs = [dataclasses.replace(c, model="cnn8").resolved() for c in _runs()]
    datas = [DeviceData.from_noisy(load_noisy(c.dataset, c.noise, seed=c.seed, train_per_class=c.train_per_class),
                                   "cuda") for c in cfgs]
    learner = build_batched_learner(cfgs, datas[0].num_classes, "cuda")
    batches = iter(runs_loader(cfgs, datas))
    noisy = torch.stack([d.train_noisy for d in datas], 1)

    def step(_):
        x, idx = next(batches)
        batched_step(learner, x, noisy.gather(0, idx))

    _sync_free(step)
