"""Training on a finite X with exact risks: batched training, exact risks, twins, population references, records."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from empirical.exact import Grid, LossSetting, Task, quick_grid, run_grid  # noqa: E402
from empirical.records import SCHEMA, ExcessPoint, RecordError  # noqa: E402
from theory import losses  # noqa: E402
from theory.linear import minimise_in_class  # noqa: E402
from theory.minimise import risk_of_vectors  # noqa: E402

EPS_MAE = LossSetting("ce_eps+mae", 1e3, (("alpha", 0.01), ("beta", 5.0)))


#: the progress ticks of the module's quick grid: (label, done, total)
TICKS: list[tuple[str, int, int]] = []


@pytest.fixture(scope="module")
def quick():
    return run_grid(quick_grid(), steps=lambda label, done, total: TICKS.append((label, done, total)))


def test_the_long_phases_report_their_steps(quick):
    """Training ticks every STEP_TICK steps, from 0 below the total; the population phase once per
    (loss setting, η), so a progress bar moves through both (python -m empirical exact draws one)."""
    from empirical.exact import STEP_TICK

    grid = quick_grid()
    training = [done for label, done, total in TICKS if label == "training" and total == grid.steps]
    assert training == list(range(0, grid.steps, STEP_TICK))
    population = [(done, total) for label, done, total in TICKS if label == "population minimisers"]
    n = len(grid.settings) * len(grid.etas)
    assert population == [(i, n) for i in range(n)]


def _runs(result):
    return {(r.model, r.setting, r.eta, r.n, r.seed): r for r in result.runs}


def test_a_run_does_not_depend_on_the_other_runs_of_its_batch(quick):
    # the same run trained alone (one loss, one n, one seed, one model) ends where it ended in the batch
    alone = run_grid(replace(quick_grid(), settings=(EPS_MAE,), ns=(50,), seeds=(1,), models=("mlp",)))
    batched = _runs(quick)
    for key, run in _runs(alone).items():
        np.testing.assert_allclose(run.logits, batched[key].logits, rtol=0, atol=1e-9)


def test_the_recorded_risks_are_the_exact_sums_over_x(quick):
    problem, _ = quick.grid.task.build()
    for r in quick.runs[::5]:
        L = next(s for s in quick.grid.settings if s.label == r.setting).build()
        Z = np.asarray(r.logits)
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        V = np.stack([L(P, np.full(len(P), k)) for k in range(problem.K)], 1)  # through the probability path
        assert r.clean_risk == pytest.approx(float(problem.px @ risk_of_vectors(V, problem.posterior)), rel=1e-9)
        zero_one = float(problem.px @ (1 - problem.posterior[np.arange(len(P)), P.argmax(1)]))
        assert r.zero_one_risk == pytest.approx(zero_one, abs=1e-12)


def test_every_noisy_run_is_paired_with_its_clean_twin(quick):
    runs = _runs(quick)
    grid = quick.grid
    assert len(quick.points) == len(grid.models) * len(grid.settings) * len(grid.etas) * len(grid.ns) * len(grid.seeds)
    for p in quick.points:
        noisy = runs[(p.model, p.label, p.eta, p.n_train, p.seed)]
        twin = runs[(p.model, p.label, 0.0, p.n_train, p.seed)]
        assert p.excess == pytest.approx(noisy.clean_risk - twin.clean_risk, abs=1e-12)
        assert p.zero_one_excess == pytest.approx(noisy.zero_one_risk - twin.zero_one_risk, abs=1e-12)


def test_the_bound_holds_for_the_population_minimisers_and_is_absent_for_an_unbounded_sum(quick):
    for p in quick.points:
        if p.method == "ce":
            assert p.bound is None and "unbounded" in p.bound_covers
            continue
        assert "simplex" in p.bound_covers
        assert p.bound == 0.0 if p.method == "mae" else p.bound > 0  # Σ_k MAE is constant
        # Theorem B, within the linear class and within the tabular class (the MLP's reference)
        assert p.population_excess <= p.bound + 1e-9


def test_a_negative_population_excess_is_within_its_stated_error(quick):
    """The true excess of minimisers is ≥ 0; a computed one below 0 must be within the clean
    minimiser's stated error (and rounding), which each point carries, small where certified."""
    for p in quick.points:
        assert p.population_error is not None and p.population_error >= 0
        assert p.population_excess >= -p.population_error, (p.label, p.model, p.population_excess, p.population_error)
    assert any(p.population_error < 1e-9 for p in quick.points)  # the bound is tight where certified


def test_an_impossible_population_excess_stops_the_grid(monkeypatch):
    """A population excess below minus its error means a wrong minimiser: the run says so, naming it."""
    import empirical.exact as exact

    real = exact._population
    monkeypatch.setattr(exact, "_population", lambda *a, **k: {model: (-1.0, v[1], 1e-6)
                                                                for model, v in real(*a, **k).items()})
    with pytest.raises(RuntimeError, match="below minus its stated error"):
        run_grid(replace(quick_grid(), settings=(EPS_MAE,), ns=(50,), seeds=(1,), models=("mlp",)))


def test_maes_population_excess_is_zero_in_both_classes(quick):
    for p in quick.points:
        if p.method == "mae":
            assert abs(p.population_excess) <= 1e-7 and p.population_zero_one_excess == 0


def test_training_reaches_the_linear_classs_minimiser_for_ce():
    # CE is convex in the linear model's parameters: with a large clean sample, SGD ends near the
    # population minimiser within the class (certified by theory.linear), up to sampling error
    grid = Grid(settings=(LossSetting("ce"),), models=("linear",), ns=(20000,), seeds=(0,), steps=1500, etas=(0.4,))
    result = run_grid(grid)
    problem, cls = grid.task.build()
    best = minimise_in_class(losses.get("ce"), problem, cls)
    assert best.certified
    clean = next(r for r in result.runs if r.eta == 0.0)
    assert best.value - best.value_error <= clean.clean_risk <= best.value + 0.01


@pytest.mark.parametrize("bad, match", [
    ({"etas": (0.7,)}, r"\(0, 0.6667\)"),
    ({"etas": ()}, "at least one of etas"),
    ({"models": ("resnet",)}, "models must be among"),
    ({"ns": (0,)}, "positive"),
    ({"lr": -1.0}, "lr positive"),
])
def test_bad_grids_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        Grid(**{"settings": (LossSetting("ce"),), **bad})


def test_excess_points_round_trip_and_refuse_other_schemas(quick):
    p = quick.points[0]
    back = ExcessPoint.from_dict(p.to_dict())
    assert back == p
    with pytest.raises(RecordError, match=f"schema {SCHEMA} was expected, got schema 99"):
        ExcessPoint.from_dict({**p.to_dict(), "schema": 99})
    broken = p.to_dict()
    del broken["excess"]
    with pytest.raises(RecordError, match=r"\['excess'\]"):
        ExcessPoint.from_dict(broken)


def test_a_task_is_the_linear_problem_of_its_seed():
    a, b = Task(seed=3).build(), Task(seed=3).build()
    np.testing.assert_array_equal(a[0].posterior, b[0].posterior)
    assert not np.array_equal(a[0].posterior, Task(seed=4).build()[0].posterior)
