"""empirical.loader, models, train and risk: batched augmentation, the paper's networks, the
trainer's schedule, determinism, checkpoint resume, divergence, and risk against the bound."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from empirical.config import PROTOCOLS, RunConfig  # noqa: E402
from empirical.data import load_noisy  # noqa: E402
from empirical.loader import Augment, DeviceLoader, RunsLoader, augment_batch  # noqa: E402
from empirical.models import build_model, count_parameters  # noqa: E402
from empirical.risk import loss_matrix, measure, paired_excess  # noqa: E402
from empirical.train import DeviceData, predict, train  # noqa: E402
from theory import losses  # noqa: E402
from theory.excess import symmetric_noise_bound  # noqa: E402


def _images(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


ZERO, ONE = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)


# ----------------------------------------------------------------------------------------------
# Loader


@given(seed=st.integers(0, 2**31))
@settings(max_examples=15)
def test_crop_is_a_window_of_the_zero_padded_image(seed):
    x = _images(6, seed)
    out = augment_batch(x, Augment(crop_pad=4, flip=False), torch.Generator().manual_seed(seed), ZERO, ONE)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4)).float() / 255
    for i in range(x.shape[0]):
        windows = [(dy, dx) for dy in range(9) for dx in range(9)
                   if torch.allclose(padded[i, :, dy:dy + 32, dx:dx + 32], out[i], rtol=0, atol=1e-6)]
        assert windows, f"image {i} is not a 32×32 window of its padded original"


@given(seed=st.integers(0, 2**31))
@settings(max_examples=15)
def test_flip_is_identity_or_mirror(seed):
    x = _images(8, seed)
    out = augment_batch(x, Augment(crop_pad=0, flip=True), torch.Generator().manual_seed(seed), ZERO, ONE)
    for i in range(x.shape[0]):
        close = lambda a: torch.allclose(out[i], a.float() / 255, rtol=0, atol=1e-6)  # noqa: E731
        assert close(x[i]) or close(x[i].flip(2))


def test_no_augmentation_is_exact_normalisation_and_rotation_keeps_the_centre():
    x = _images(4)
    mean, std = torch.tensor([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).reshape(1, 3, 1, 1)
    out = augment_batch(x, Augment.none(), torch.Generator(), mean, std)
    torch.testing.assert_close(out, (x.float() / 255 - mean) / std)
    rotated = augment_batch(x, Augment(crop_pad=0, flip=False, rotate_deg=20), torch.Generator().manual_seed(1), ZERO, ONE)
    assert rotated.shape == x.shape
    # the centre 2×2 block rotates into itself under nearest sampling for |angle| ≤ 20°
    assert torch.equal(rotated[:, :, 15:17, 15:17].sum((2, 3)) > 0, x[:, :, 15:17, 15:17].float().sum((2, 3)) > 0)


@pytest.mark.parametrize("n, batch, drop_last", [(10, 4, False), (10, 4, True), (8, 4, False)])
def test_an_epoch_visits_every_example_once(n, batch, drop_last):
    loader = DeviceLoader(_images(n), batch_size=batch, mean=(0, 0, 0), std=(1, 1, 1), drop_last=drop_last, seed=0)
    idx = torch.cat([i for _, i in loader])
    assert len(list(loader)) == len(loader)
    if drop_last:
        assert idx.numel() == (n // batch) * batch and idx.unique().numel() == idx.numel()
    else:
        assert sorted(idx.tolist()) == list(range(n))


def test_loader_state_round_trip_replays_the_same_batches():
    loader = DeviceLoader(_images(16), batch_size=5, mean=(0, 0, 0), std=(1, 1, 1), seed=7)
    next(iter(loader))
    state = loader.state_dict()
    first = [(x.clone(), i.clone()) for x, i in loader]
    loader.load_state_dict(state)
    for (x1, i1), (x2, i2) in zip(first, loader):
        assert torch.equal(x1, x2) and torch.equal(i1, i2)


@given(seeds=st.lists(st.integers(0, 2**31), min_size=1, max_size=4), n=st.integers(5, 23),
       batch=st.integers(1, 9), drop_last=st.booleans(), channels_last=st.booleans(),
       aug=st.sampled_from([Augment(), Augment.none(), Augment(crop_pad=2, flip=False, rotate_deg=15.0)]))
@settings(max_examples=25, deadline=None)
def test_runs_stepped_together_see_bit_for_bit_their_own_batches(seeds, n, batch, drop_last, channels_last, aug):
    images = _images(n, seed=n)

    def loader(seed):
        return DeviceLoader(images, batch_size=batch, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), augment=aug,
                            seed=seed, drop_last=drop_last, channels_last=channels_last)

    alone = [list(loader(seed)) for seed in seeds]
    together = list(RunsLoader([loader(seed) for seed in seeds]))
    assert len(together) == len(alone[0])
    for b, (x, idx) in enumerate(together):
        side_by_side = torch.cat([run[b][0] for run in alone], 1)  # run r's images in channels 3r..3r+2
        assert torch.equal(x, side_by_side) and x.stride() == side_by_side.stride()  # same values, same layout
        assert torch.equal(idx, torch.stack([run[b][1] for run in alone], 1))


@pytest.mark.gpu
def test_runs_stepped_together_see_their_own_batches_on_the_gpu():
    images = _images(40).cuda()

    def loader(seed):
        return DeviceLoader(images, batch_size=16, mean=(0.5,) * 3, std=(0.25,) * 3, seed=seed,
                            augment=Augment(rotate_deg=15.0))

    alone = [list(loader(seed)) for seed in (1, 2, 3)]
    for b, (x, _) in enumerate(RunsLoader([loader(seed) for seed in (1, 2, 3)])):
        assert x.is_cuda and torch.equal(x, torch.cat([run[b][0] for run in alone], 1))


def test_runs_stepped_together_resume_from_their_loaders_states():
    loaders = [DeviceLoader(_images(16), batch_size=5, mean=(0,) * 3, std=(1,) * 3, seed=s) for s in (3, 4)]
    together = RunsLoader(loaders)
    next(iter(together))
    state = together.state_dict()
    first = [(x.clone(), i.clone()) for x, i in together]
    together.load_state_dict(state)
    for (x1, i1), (x2, i2) in zip(first, together, strict=True):
        assert torch.equal(x1, x2) and torch.equal(i1, i2)


def test_loaders_that_differ_in_more_than_their_generators_are_not_stepped_together():
    def loader(**kw):
        return DeviceLoader(**{"images": _images(8), "batch_size": 4, "mean": (0,) * 3, "std": (1,) * 3, **kw})

    with pytest.raises(ValueError, match="share batch_size"):
        RunsLoader([loader(), loader(batch_size=2)])
    with pytest.raises(ValueError, match="share augment"):
        RunsLoader([loader(), loader(augment=Augment.none())])
    with pytest.raises(ValueError, match="share images"):
        RunsLoader([loader(), loader(images=_images(8, seed=1))])
    with pytest.raises(ValueError, match="share std"):
        RunsLoader([loader(), loader(std=(2,) * 3)])
    RunsLoader([loader(seed=1), loader(images=_images(8), seed=2)])  # equal images in two copies: fine


def test_loader_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        DeviceLoader(torch.zeros(2, 3, 32, 32), batch_size=2, mean=(0,) * 3, std=(1,) * 3)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DeviceLoader(_images(2), batch_size=0, mean=(0,) * 3, std=(1,) * 3)


# ----------------------------------------------------------------------------------------------
# Models


@pytest.mark.parametrize("name, K, expected", [("cnn8", 10, 1_639_794), ("resnet34", 100, 21_328_292)])
def test_paper_networks_have_the_stated_parameter_counts(name, K, expected):
    model = build_model(name, K)
    assert count_parameters(model) == expected
    model.eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, K)


def test_cnn8_initialisation_is_kaiming_and_xavier_uniform_with_zero_bias():
    torch.manual_seed(0)
    model = build_model("cnn8", 10)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(m.weight)
            bound = (math.sqrt(6 / fan_in) if isinstance(m, torch.nn.Conv2d)
                     else math.sqrt(6 / (fan_in + fan_out)))
            assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
            assert torch.count_nonzero(m.bias) == 0


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("vgg", 10)


# ----------------------------------------------------------------------------------------------
# Trainer


def _cfg(**kw):
    base = dict(dataset="synthetic", model="tiny", epochs=3, train_per_class=40, batch_size=64, lr=0.05)
    return RunConfig(**{**base, **kw})


def strip(history):
    """Epoch records without their timings (which differ between identical runs)."""
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in history]


def _data(cfg):
    return DeviceData.from_noisy(load_noisy(cfg.dataset, cfg.noise, seed=cfg.seed, train_per_class=cfg.train_per_class), "cpu")


@pytest.mark.slow
def test_training_learns_and_follows_the_cosine_schedule():
    cfg = _cfg(epochs=4, model="small")
    result = train(cfg, _data(cfg))
    assert result.status == "finished" and [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    lrs = [r["lr"] for r in result.history]
    expected = [cfg.lr * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert result.last_test_acc > 0.5  # chance is 0.1
    # clean labels: accuracy on the noisy and the clean training labels coincide
    assert all(r["train_acc_noisy"] == r["train_acc_clean"] for r in result.history)
    assert result.best[0] == max(r["test_acc"] for r in result.history)


def test_noisy_training_records_memorisation_against_both_label_sets():
    cfg = _cfg(noise="symmetric:0.6", epochs=2)
    result = train(cfg, _data(cfg))
    assert all(r["train_acc_noisy"] != r["train_acc_clean"] for r in result.history)


@pytest.mark.slow
def test_same_seed_same_run_different_seed_different_run():
    cfg = _cfg()
    a, b = train(cfg, _data(cfg)), train(cfg, _data(cfg))
    assert strip(a.history) == strip(b.history)
    c = train(dataclasses.replace(cfg, seed=5), _data(dataclasses.replace(cfg, seed=5)))
    assert strip(c.history) != strip(a.history)


@pytest.mark.slow
def test_checkpoint_resume_reproduces_the_uninterrupted_run(tmp_path):
    cfg = _cfg(epochs=4)
    data = _data(cfg)
    straight = train(cfg, data)
    ckpt = tmp_path / "run.pt"

    class Killed(Exception):
        pass

    def kill_after_two(record):
        if record["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, data, checkpoint=ckpt, checkpoint_every_s=0, on_epoch=kill_after_two)
    resumed = train(cfg, data, checkpoint=ckpt, checkpoint_every_s=0)
    assert resumed.resumed_from_epoch == 2
    assert strip(resumed.history) == strip(straight.history)
    for p, q in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(p, q)


def _checkpoint_after_one_epoch(cfg, data, path):
    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    with pytest.raises(Stop):
        train(cfg, data, checkpoint=path, checkpoint_every_s=0, on_epoch=stop)
    assert path.exists()


def _straight(cfg, data):
    return strip(train(cfg, data).history)


@pytest.mark.parametrize("damage, kind", [
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "corrupt"),  # truncated by a kill
    (lambda p: p.write_bytes(b"garbage, not a zip"), "corrupt"),
    (lambda p: p.write_bytes(b""), "corrupt"),
    (lambda p: torch.save({"model": {}}, p), "corrupt"),  # a zip of the wrong content
])
def test_an_unreadable_checkpoint_is_set_aside_and_the_run_restarts_saying_so(damage, kind, tmp_path):
    cfg = _cfg(epochs=2)
    data = _data(cfg)
    ckpt = tmp_path / "run.pt"
    _checkpoint_after_one_epoch(cfg, data, ckpt)
    damage(ckpt)
    with pytest.warns(UserWarning, match=rf"checkpoint {ckpt}: {kind}: .*moved it to run.pt.{kind}-.*from its start"):
        result = train(cfg, data, checkpoint=ckpt)
    assert result.resumed_from_epoch == 0 and strip(result.history) == _straight(cfg, data)
    assert len(list(tmp_path.glob(f"run.pt.{kind}-*"))) == 1  # kept, not deleted


def test_a_checkpoint_of_another_config_is_not_resumed(tmp_path):
    cfg = _cfg(epochs=2)
    data = _data(cfg)
    ckpt = tmp_path / "run.pt"
    _checkpoint_after_one_epoch(cfg, data, ckpt)
    with pytest.warns(UserWarning, match="foreign: written for another config"):
        other = train(dataclasses.replace(cfg, lr=0.01), data, checkpoint=ckpt)
    assert other.resumed_from_epoch == 0 and len(other.history) == 2


@pytest.mark.slow
def test_a_checkpoint_is_not_resumed_under_another_thread_count(tmp_path):
    """CPU reductions split by thread count: 1 and 2 threads give different numbers, so a run
    resumed across them would match neither; it restarts under the current settings."""
    cfg = _cfg(epochs=2)
    data = _data(cfg)
    ckpt = tmp_path / "run.pt"
    threads = torch.get_num_threads()
    _checkpoint_after_one_epoch(cfg, data, ckpt)
    torch.set_num_threads(threads + 1)
    try:
        with pytest.warns(UserWarning, match=f"settings: written under .*'threads': {threads}.*'threads': {threads + 1}"):
            result = train(cfg, data, checkpoint=ckpt)
        assert result.resumed_from_epoch == 0 and strip(result.history) == _straight(cfg, data)
    finally:
        torch.set_num_threads(threads)


def test_divergence_stops_the_run_and_says_why():
    cfg = _cfg(lr=1e30, grad_clip=1e38, epochs=5)
    result = train(cfg, _data(cfg))
    assert result.status == "diverged"
    assert len(result.history) < 5 and "non-finite training loss in epoch" in result.stop_reason


def test_bf16_and_channels_last_options_train():
    cfg = _cfg(precision="bf16", channels_last=True, epochs=2)
    result = train(cfg, _data(cfg))
    assert result.status == "finished" and all(0 <= r["test_acc"] <= 1 for r in result.history)


# ----------------------------------------------------------------------------------------------
# Risk against the bound


def test_loss_matrix_matches_per_label_values_and_mae_sums_are_constant():
    z = torch.randn(33, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name in ("ce_eps+mae", "gce", "mae"):
        loss = losses.get(name)
        M = loss_matrix(loss, z, chunk=7)
        for k in range(5):
            torch.testing.assert_close(M[:, k], loss.torch_value(z, torch.full((33,), k)))
    M = loss_matrix(losses.get("mae"), z)
    torch.testing.assert_close(M.sum(1), torch.full((33,), 2.0 * 4, dtype=torch.float64))


def test_measure_gives_theorem_b_from_the_observed_range_and_the_identity():
    g = torch.Generator().manual_seed(1)
    K, N = 4, 400
    train_logits, test_logits = torch.randn(N, K, generator=g), torch.randn(50, K, generator=g)
    clean = torch.arange(N) % K
    noisy = clean.clone()
    noisy[: N // 2] = (clean[: N // 2] + 1) % K
    loss = losses.get("gce")
    out = measure(loss, train_logits, test_logits, train_clean=clean, train_noisy=noisy,
                  test_y=torch.arange(50) % K, noise_kind="symmetric", noise_rate=0.5)
    sums = torch.cat([loss_matrix(loss, train_logits), loss_matrix(loss, test_logits)]).sum(1)
    assert out.c1 == pytest.approx(float(sums.min())) and out.c2 == pytest.approx(float(sums.max()))
    assert out.bound.theorem_b == pytest.approx(symmetric_noise_bound(0.5, K, out.c1, out.c2))
    M = loss_matrix(loss, train_logits)
    predicted = (1 - 0.5 * K / (K - 1)) * M[torch.arange(N), clean].mean() + 0.5 / (K - 1) * M.sum(1).mean()
    assert out.identity.predicted_noisy_risk == pytest.approx(float(predicted))
    assert out.identity.measured_noisy_risk == pytest.approx(float(M[torch.arange(N), noisy].mean()))
    assert out.train.noisy_acc is not None and out.test.noisy_risk is None  # the test set has clean labels only
    asym = measure(loss, train_logits, test_logits, train_clean=clean, train_noisy=noisy,
                   test_y=torch.arange(50) % K, noise_kind="asymmetric", noise_rate=0.4)
    assert asym.bound.theorem_b is None and "symmetric noise only" in asym.bound.why and asym.identity is None


def _record(run_id, noise, seed, clean_risk, c1=1.0, c2=2.0, method="ce", m=None):
    """A typed finished result with only what pairing, the risk table and the figure read."""
    from empirical.config import RunConfig
    from empirical.records import BoundNote, Final, Risk, RunResult, Side

    params = {} if m is None else {"m": m}
    cfg = RunConfig(dataset="cifar10", noise=noise, method=method, params=params, seed=seed, model="cnn8", epochs=120,
                    batch_size=128, lr=0.01)
    side = Side(clean_risk=clean_risk, clean_acc=1 - clean_risk, sum_min=c1, sum_max=c2, sum_mean=(c1 + c2) / 2)
    train = Side(clean_risk, 1 - clean_risk, c1, c2, (c1 + c2) / 2, noisy_risk=2 * clean_risk)
    risk = Risk(K=10, train=train, test=side, c1=c1, c2=c2, bound=BoundNote(None, 0.0, None))
    return RunResult(id=run_id, status="finished", stop_reason=None, config=cfg, seeds={},
                     data={"n_train": 50000, "num_classes": 10}, model={}, provenance={}, timings={},
                     final=Final(0.5, 0.6, 1, 120), history=(), risk=risk)


def test_paired_excess_pairs_only_identical_configs():
    runs = [_record("a", "clean", 1, 0.3), _record("b", "symmetric:0.4", 1, 0.5, c1=0.5, c2=3.0),
            _record("c", "symmetric:0.4", 2, 0.9)]
    rows = paired_excess(runs)
    assert [(r.noisy_run, r.clean_run) for r in rows] == [("b", "a")]
    row = rows[0]
    assert row.excess == pytest.approx(0.2) and row.zero_one_excess == pytest.approx(0.2)
    assert row.bound == pytest.approx(symmetric_noise_bound(0.4, 10, 0.5, 3.0))
    assert row.population_excess is None and not row.exact  # a trained network's test-set excess


def test_the_risk_table_and_the_figure_print_the_same_bound_beside_the_same_excess(tmp_path):
    """They printed 0.035 and 0.27 for the same runs: the table used the noisy run's own sum
    range, the figure the pair's. Both now read paired_excess."""
    from empirical.table import risk_table
    from figures._common import Context
    from figures.from_results import build_risk

    runs = [_record("a", "clean", 1, 0.3, c1=0.1, c2=9.0, method="ce_eps+mae", m=10.0),
            _record("b", "symmetric:0.4", 1, 0.5, c1=0.5, c2=3.0, method="ce_eps+mae", m=10.0)]
    cell = risk_table(runs).cells[("cifar10 ce_eps+mae", "symmetric:0.4")]
    pair = paired_excess(runs)[0]
    assert cell["bound"].mean == pair.bound == pytest.approx(symmetric_noise_bound(0.4, 10, 0.1, 9.0))
    assert cell["excess_test"].mean == pytest.approx(pair.excess)
    ctx = Context(tmp_path)
    ctx.require_results = lambda *_: runs
    saved, save = {}, ctx.save

    def keep_texts(fig, name):
        saved[name] = [t.get_text() for t in fig.texts]
        return save(fig, name)

    ctx.save = keep_texts
    drawn = next(iter(build_risk(ctx).data.values()))
    caption = " ".join(saved["risk_vs_bound"])  # the figure says what each curve is
    assert "Theorem B for the risk minimisers" in caption and "cnn8, 120 epochs" in caption and "n = 50,000" in caption
    assert drawn["bound_mean"] == [cell["bound"].mean] and drawn["excess_mean"] == [cell["excess_test"].mean]
    assert "bound" not in risk_table(runs).cells[("cifar10 ce_eps+mae", "clean")]  # no excess, no bound


def test_predict_is_deterministic_and_in_eval_mode():
    model = build_model("tiny", 10)
    x = _images(9)
    a = predict(model, x, (0.5,) * 3, (0.25,) * 3, batch_size=4)
    b = predict(model, x, (0.5,) * 3, (0.25,) * 3, batch_size=9)
    torch.testing.assert_close(a, b)
    assert model.training  # restored
    top = predict(model, x, (0.5,) * 3, (0.25,) * 3, batch_size=4, each=lambda z: z.argmax(1))
    assert torch.equal(top, a.argmax(1))  # what each batch's logits become, concatenated in order


def test_protocols_follow_the_paper():
    c10, c100 = PROTOCOLS["cifar10"], PROTOCOLS["cifar100"]
    assert (c10.model, c10.epochs, c10.batch_size, c10.lr, c10.weight_decay) == ("cnn8", 120, 128, 0.01, 1e-4)
    assert (c100.model, c100.epochs, c100.lr, c100.weight_decay, c100.augment.rotate_deg) == ("resnet34", 200, 0.1, 1e-5, 20)
    cfg = RunConfig(dataset="cifar10", noise="symmetric:0.8", method="ce_eps+mae").resolved()
    assert dict(cfg.params) == {**losses.spec("ce_eps+mae").defaults,
                                **losses.paper_defaults("cifar10", "symmetric", 0.8, "ce_eps+mae")}


# ----------------------------------------------------------------------------------------------
# Options that need a compiler or a GPU


@pytest.mark.slow
def test_compiled_network_trains_like_the_eager_one():
    cfg = _cfg(epochs=1)
    data = _data(cfg)
    eager, compiled = train(cfg, data), train(dataclasses.replace(cfg, compile=True), data)
    assert compiled.status == "finished"
    assert compiled.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], rel=1e-3)


def test_asking_for_cuda_without_it_is_a_clear_error():
    from empirical.run import Environment

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="torch sees no CUDA device.*--device cpu"):
        Environment(device="cuda").torch_device()
    assert Environment(device="auto").torch_device().type == "cpu"


@pytest.mark.gpu
def test_cuda_training_keeps_everything_on_the_device():
    cfg = _cfg(epochs=4, model="small", precision="bf16", channels_last=True)
    data = DeviceData.from_noisy(load_noisy(cfg.dataset, cfg.noise, seed=cfg.seed,
                                            train_per_class=cfg.train_per_class), "cuda")
    loader = DeviceLoader(data.train_x, batch_size=16, mean=data.mean, std=data.std, seed=0)
    x, idx = next(iter(loader))
    assert x.is_cuda and idx.is_cuda and loader.generator.device.type == "cuda"
    result = train(cfg, data)
    assert result.status == "finished" and next(result.model.parameters()).is_cuda
    cpu = train(cfg, _data(cfg))
    # different RNG streams per device, same protocol: both learn beyond chance
    assert result.last_test_acc > 0.5 and cpu.last_test_acc > 0.5
