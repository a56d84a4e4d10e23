"""Training under label noise on a distribution over a finite X, every risk exact.

The distribution is a :func:`theory.linear.linear_problem`: n_x points x with features φ(x) ∈ R^d,
P(x) and clean posteriors P(y | x) known. A run draws n training pairs (x, y) from it, passes the
labels through symmetric noise η (i.i.d., ỹ ~ T[y]), and trains a model by minibatch SGD on the
noisy sample; its twin trains on the clean labels of the same sample, from the same
initialisation with the same minibatches. Because X is finite, every risk of every trained model
is an exact finite sum over X, with no test-set noise:

- the clean L-risk R(f) = Σ_x P(x) Σ_k P(k | x) L(f(x), k) under the run's own loss, and the 0-1
  risk of its first-index argmax;
- the **excess** R(f_η) − R(f_0) against the clean-trained twin (and the same for the 0-1 risk);
- the **population excess** R(f*_η) − R(f*) of the risk minimisers within the model's class
  (:mod:`theory.linear` for the linear model; the tabular minimisers of :mod:`theory.minimise`
  for the MLP, which can fit any table on n_x points), the quantity Theorem B bounds;
- Theorem B's bound η(C₂ − C₁)/((K−1) − Kη) with [C₁, C₂] the range of Σ_k L over the simplex
  (:func:`theory.excess.sum_range`): it covers the population minimisers within every class,
  not a trained model.

As n grows the trained excess approaches the population excess of the class (where the training
reaches the class's minimiser); a rich model trained on a small noisy sample fits the sample's
label frequencies at each x, and its excess departs from the population one.

Vectorised: every run of one model type trains in one process as one set of stacked parameters
(R runs: losses × m × noise × n × seeds, clean twins included); each step evaluates the model on
all n_x points for all runs at once, and each run's minibatch enters as per-(x, label) counts,
so a step costs O(R·n_x·K) whatever n and the batch. Loss settings are evaluated group by group
on their runs' slice of the outputs (a loss with another m is another loss), and the sum of all
runs' objectives is differentiated once: each run's parameters get exactly its own gradient.
Initialisation and minibatches are keyed by (seed, model) and (seed, n), so a run does not
depend on the other runs of its batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from empirical.records import SCHEMA, ExcessPoint, RecordError
from theory import losses
from theory.excess import sum_range, symmetric_noise_bound, zero_one_risk
from theory.linear import class_excess, linear_problem
from theory.losses import Loss
from theory.minimise import risk_of_vectors
from theory.noise import sample, symmetric

__all__ = ["ExactResult", "Grid", "LossSetting", "Task", "TrainedRun", "default_grid", "quick_grid", "run_grid"]

MODELS = ("linear", "mlp")


@dataclass(frozen=True)
class Task:
    """The distribution over a finite X: :func:`theory.linear.linear_problem` (K, n_x, d, seed,
    concentration)."""

    K: int = 3
    n_x: int = 16
    d: int = 2
    seed: int = 0
    concentration: float = 0.5

    def build(self):
        return linear_problem(self.K, self.n_x, self.d, self.seed, concentration=self.concentration)

    @property
    def label(self) -> str:
        return f"finite X: K={self.K}, n_x={self.n_x}, d={self.d} (seed {self.seed})"


@dataclass(frozen=True)
class LossSetting:
    """A registered loss with its parameters; ``m`` set for the ε-losses."""

    family: str
    m: float | None = None
    params: tuple[tuple[str, float], ...] = ()

    def build(self) -> Loss:
        extra = {} if self.m is None else {"m": self.m}
        return losses.get(self.family, **dict(self.params), **extra)

    @property
    def label(self) -> str:
        text = self.family + "".join(f", {k}={v:g}" for k, v in self.params)
        return text if self.m is None else f"{text} (m={self.m:g})"


@dataclass(frozen=True)
class Grid:
    """Runs to train: every loss setting × model × η × n × seed, each with its clean twin."""

    task: Task = Task()
    settings: tuple[LossSetting, ...] = ()
    models: tuple[str, ...] = MODELS
    etas: tuple[float, ...] = (0.4,)
    ns: tuple[int, ...] = (30, 100, 300, 1000, 3000)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 2000
    batch: int = 32
    lr: float = 0.05
    width: int = 64

    def __post_init__(self):
        for name in ("etas", "ns", "seeds", "settings", "models"):
            if not getattr(self, name):
                raise ValueError(f"a grid needs at least one of {name}, got none")
        limit = (self.task.K - 1) / self.task.K
        bad = [e for e in self.etas if not 0 < e < limit]
        if bad:
            raise ValueError(f"every η must lie in (0, (K−1)/K) = (0, {limit:.4g}), where Theorem B applies; "
                             f"got {bad}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"models must be among {MODELS}, got {unknown}")
        if any(n < 1 for n in self.ns) or self.steps < 1 or self.batch < 1 or not self.lr > 0 or self.width < 1:
            raise ValueError(f"ns, steps, batch and width must be positive integers and lr positive; got ns={self.ns}, "
                             f"steps={self.steps}, batch={self.batch}, lr={self.lr}, width={self.width}")

    @property
    def protocol(self) -> str:
        return f"{self.steps} SGD steps (batch {self.batch}, momentum 0.9, lr {self.lr:g} cosine to 0)"


M_VALUES = (0.0, 10.0, 1e2, 1e3, 1e5)


def default_grid() -> Grid:
    """The main job's grid: CE, MAE, GCE, and CE_ε, CE_ε+MAE at five m; linear and MLP; 3 seeds."""
    settings = (LossSetting("ce"), LossSetting("mae"), LossSetting("gce"),
                *(LossSetting("ce_eps", m) for m in M_VALUES),
                *(LossSetting("ce_eps+mae", m, (("alpha", 0.01), ("beta", 5.0))) for m in M_VALUES))
    return Grid(settings=settings)


def quick_grid() -> Grid:
    """A small grid for tests: 8 points, three losses, two sample sizes, two seeds, 300 steps."""
    settings = (LossSetting("ce"), LossSetting("mae"), LossSetting("ce_eps+mae", 1e3, (("alpha", 0.01), ("beta", 5.0))))
    return Grid(task=Task(n_x=8), settings=settings, ns=(50, 2000), seeds=(0, 1), steps=300)


@dataclass(frozen=True)
class TrainedRun:
    """One trained model's exact measurements (``eta`` 0: the clean twin)."""

    model: str
    setting: str
    family: str
    m: float | None
    eta: float
    n: int
    seed: int
    clean_risk: float
    zero_one_risk: float
    noisy_population_risk: float
    train_risk: float
    sum_min: float
    sum_max: float
    logits: list = field(repr=False)


@dataclass(frozen=True)
class ExactResult:
    """The runs, their excess points and how long it took; ``to_dict`` is JSON-ready and
    :meth:`from_dict` reads it back (refusing another schema)."""

    grid: Grid
    runs: tuple[TrainedRun, ...]
    points: tuple[ExcessPoint, ...]
    timings: dict

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "kind": "exact", "grid": asdict(self.grid),
                "runs": [asdict(r) for r in self.runs], "points": [p.to_dict() for p in self.points],
                "timings": self.timings}

    @classmethod
    def from_dict(cls, data) -> ExactResult:
        if not isinstance(data, dict) or data.get("kind") != "exact":
            raise RecordError(f"a finite-X result (kind 'exact') was expected, got "
                              f"{data.get('kind') if isinstance(data, dict) else type(data).__name__!r}")
        if data.get("schema") != SCHEMA:
            raise RecordError(f"a finite-X result of schema {SCHEMA} was expected, got schema {data.get('schema')!r}")
        try:
            g = dict(data["grid"])
            g["task"] = Task(**g["task"])
            g["settings"] = tuple(LossSetting(s["family"], s["m"], tuple(tuple(kv) for kv in s["params"]))
                                  for s in g["settings"])
            grid = Grid(**{k: tuple(v) if isinstance(v, list) else v for k, v in g.items()})
            runs = tuple(TrainedRun(**r) for r in data["runs"])
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"not a finite-X result: {err}") from None
        return cls(grid, runs, tuple(ExcessPoint.from_dict(p) for p in data["points"]), dict(data["timings"]))


# ----------------------------------------------------------------------------------------------
# Batched models


def _init(model: str, seeds: Sequence[int], d: int, K: int, width: int) -> list[torch.Tensor]:
    """Stacked parameters, one slice per run, each drawn from its own generator keyed by
    (seed, model): PyTorch's default uniform(±1/√fan_in) for every weight and bias."""
    shapes = [(K, d + 1)] if model == "linear" else [(width, d), (width,), (K, width), (K,)]
    fan_in = [d + 1] if model == "linear" else [d, d, width, width]
    out = [torch.empty((len(seeds), *s), dtype=torch.float64) for s in shapes]
    for r, seed in enumerate(seeds):
        g = torch.Generator().manual_seed(int(seed) * 1000 + MODELS.index(model))
        for t, s, f in zip(out, shapes, fan_in):
            t[r] = (torch.rand(s, generator=g, dtype=torch.float64) * 2 - 1) / np.sqrt(f)
    return out


def _forward(model: str, params: list[torch.Tensor], phi: torch.Tensor) -> torch.Tensor:
    """Logits (R, n_x, K) of every run at every point; ``phi`` (n_x, d)."""
    if model == "linear":
        (W,) = params
        design = torch.cat([phi, torch.ones_like(phi[:, :1])], 1)
        return torch.einsum("rkj,xj->rxk", W, design)
    W1, b1, W2, b2 = params
    H = torch.tanh(torch.einsum("rhd,xd->rxh", W1, phi) + b1[:, None])
    return torch.einsum("rkh,rxh->rxk", W2, H) + b2[:, None]


@dataclass(frozen=True)
class _Run:
    setting: int
    eta: float  # 0: the clean twin
    n: int
    seed: int


def _train(runs: list[tuple[str, _Run]], grid: Grid, phi: np.ndarray, codes: dict, batches: dict,
           built: list[Loss], device: torch.device,
           steps: Callable[[str, int, int], None] | None = None) -> np.ndarray:
    """Train every run together; returns the final logits (R, n_x, K) in float64, in the order of
    ``runs``. Each model type keeps its own stacked parameters; the outputs of all runs are put in
    loss-setting order so that each loss is evaluated once per step on one slice."""
    K, n_x = grid.task.K, grid.task.n_x
    models = [m for m in MODELS if any(model == m for model, _ in runs)]
    by_model = {m: [i for i, (model, _) in enumerate(runs) if model == m] for m in models}
    flat = [i for m in models for i in by_model[m]]  # model-major: the order of the stacked outputs
    order = sorted(range(len(runs)), key=lambda i: runs[i][1].setting)  # loss-setting order
    perm = torch.tensor([flat.index(i) for i in order], device=device)
    params = {m: [p.to(device).requires_grad_() for p in _init(m, [runs[i][1].seed for i in by_model[m]],
                                                                  grid.task.d, K, grid.width)] for m in models}
    opt = torch.optim.SGD([p for ps in params.values() for p in ps], lr=grid.lr, momentum=0.9, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, grid.steps)
    phi_t = torch.as_tensor(phi, dtype=torch.float64, device=device)
    sorted_runs = [runs[i][1] for i in order]
    n_max = max(r.n for r in sorted_runs)
    code = torch.zeros((len(runs), n_max), dtype=torch.int64)
    keys = sorted({(r.seed, r.n) for r in sorted_runs})
    key_of = torch.tensor([keys.index((r.seed, r.n)) for r in sorted_runs])
    for i, r in enumerate(sorted_runs):
        code[i, :r.n] = torch.as_tensor(codes[(r.seed, r.n, r.eta)])
    index = torch.stack([torch.as_tensor(batches[k]) for k in keys])  # (keys, steps, batch)
    code, index, key_of = code.to(device), index.to(device), key_of.to(device)
    groups = []
    for s in sorted({r.setting for r in sorted_runs}):
        rows = [i for i, r in enumerate(sorted_runs) if r.setting == s]
        groups.append((built[s], slice(rows[0], rows[-1] + 1)))
    labels = torch.arange(K, device=device).repeat(n_x)
    ones = torch.ones((len(runs), grid.batch), dtype=torch.float64, device=device)

    def outputs():
        return torch.cat([_forward(m, params[m], phi_t) for m in models])[perm]

    for step in range(grid.steps):
        if steps is not None and step % STEP_TICK == 0:
            steps("training", step, grid.steps)
        picked = code.gather(1, index[key_of, step])  # (R, batch): x·K + label of each example
        counts = torch.zeros((len(runs), n_x * K), dtype=torch.float64, device=device).scatter_add_(1, picked, ones)
        Z = outputs()
        total = 0.0
        for loss, rows in groups:
            Zg = Z[rows]
            values = loss.torch_value(Zg.reshape(-1, K).repeat_interleave(K, 0), labels.repeat(Zg.shape[0]))
            total = total + (values.reshape(Zg.shape[0], n_x * K) * counts[rows]).sum() / grid.batch
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        Z = outputs().cpu().numpy()
    out = np.empty_like(Z)
    out[order] = Z
    return out


# ----------------------------------------------------------------------------------------------
# The grid


#: training steps between two progress ticks
STEP_TICK = 50
#: rounding of a risk E_x Σ_k q_k L(p, k) over a finite X, per unit of the risks compared
SUM_ROUNDING = 64 * np.finfo(np.float64).eps


def _population(L: Loss, problem, cls, eta: float, seed: int) -> dict[str, tuple[float, float, float]]:
    """(L excess, 0-1 excess, error) of the population minimisers per model: within the linear class
    (:func:`theory.linear.class_excess`) and, for the MLP, the tabular class (the same row's
    tabular minimisers). The error bounds how far the clean minimiser found lies above the class's
    infimum (its certified value error, or its gap to the certified tabular lower bound, which holds
    for every loss), plus rounding: the true excess is ≥ 0, so the computed one is ≥ −error, and a
    negative value within it is the minimiser's stated error, not a finding."""
    row = class_excess(L, problem, cls, eta, seed=seed)
    rounding = SUM_ROUNDING * (1 + abs(row.clean.value) + abs(row.clean.value + row.excess))
    linear_error = min(row.clean.value_error, row.clean.tabular_gap) + rounding
    return {"linear": (row.excess, row.zero_one_excess, linear_error),
            "mlp": (row.tabular_excess, row.tabular_zero_one_excess, row.tabular_clean_error + rounding)}


def run_grid(grid: Grid, *, device: str | torch.device = "cpu", progress: Callable[[str], None] | None = None,
             steps: Callable[[str, int, int], None] | None = None) -> ExactResult:
    """Train every run of ``grid``, measure it exactly, pair it with its twin (module docstring).
    ``progress(text)`` hears each phase; ``steps(label, done, total)`` the steps within the two long
    ones (training, population minimisers), for a progress bar (:class:`theory.cli.Progress`)."""
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be cpu, cuda or cuda:N (a torch device), got {device!r}") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} requested but torch sees {torch.cuda.device_count()} CUDA device(s) "
                         f"(torch {torch.__version__}); use --device cpu")
    say = progress or (lambda _: None)
    t0 = time.perf_counter()
    task = grid.task
    problem, cls = task.build()
    K = task.K
    built = [s.build() for s in grid.settings]
    # samples: x and clean y per (seed, n); noisy labels per η; minibatch indices per (seed, n)
    codes, batches = {}, {}
    for seed in grid.seeds:
        for n in grid.ns:
            rng = np.random.default_rng([task.seed, seed, n])
            x = rng.choice(task.n_x, size=n, p=problem.px)
            cum = problem.posterior[x].cumsum(1)
            y = np.minimum((rng.random(n)[:, None] > cum).sum(1), K - 1)
            codes[(seed, n, 0.0)] = x * K + y
            for eta in grid.etas:
                noisy = sample(y, symmetric(K, eta), seed=np.random.default_rng([task.seed, seed, n, 2]), exact=False)
                codes[(seed, n, eta)] = x * K + noisy
            batches[(seed, n)] = np.random.default_rng([task.seed, seed, n, 1]).integers(0, n, size=(grid.steps,
                                                                                                    grid.batch))
    t_data = time.perf_counter() - t0
    runs = [_Run(s, eta, n, seed) for s in range(len(grid.settings)) for eta in (0.0, *grid.etas) for n in grid.ns
            for seed in grid.seeds]
    runs = [(model, r) for model in grid.models for r in runs]
    t = time.perf_counter()
    say(f"training {len(runs)} runs together ({', '.join(grid.models)}; {grid.protocol})")
    logits = _train(runs, grid, cls.features, codes, batches, built, device, steps=steps)
    t_train = time.perf_counter() - t
    # exact measurements
    t = time.perf_counter()
    noisy_q = {eta: problem.noisy(symmetric(K, eta)).posterior for eta in grid.etas}
    trained: dict[tuple, TrainedRun] = {}
    for (model, r), Z in zip(runs, logits):
        L, setting = built[r.setting], grid.settings[r.setting]
        V = L.vectors(Z, logits=True)
        q_train = noisy_q[r.eta] if r.eta else problem.posterior
        c = codes[(r.seed, r.n, r.eta)]
        trained[(model, r)] = TrainedRun(
            model=model, setting=setting.label, family=setting.family, m=setting.m, eta=r.eta, n=r.n, seed=r.seed,
            clean_risk=float(problem.px @ risk_of_vectors(V, problem.posterior)),
            zero_one_risk=float(problem.px @ zero_one_risk(Z, problem.posterior)),
            noisy_population_risk=float(problem.px @ risk_of_vectors(V, q_train)),
            train_risk=float(V[c // K, c % K].mean()), sum_min=float(V.sum(1).min()),
            sum_max=float(V.sum(1).max()), logits=Z.tolist())
    say("population minimisers and bounds")
    ranges = {s: sum_range(built[s], K, rng=np.random.default_rng([task.seed, s]), n=200, n_polish=0)
              for s in range(len(grid.settings))}
    todo = [(s, eta) for s in range(len(grid.settings)) for eta in grid.etas]
    population = {}
    for i, (s, eta) in enumerate(todo):
        if steps is not None:
            steps("population minimisers", i, len(todo))
        population[(s, eta)] = _population(built[s], problem, cls, eta, task.seed)
    points = []
    for (model, r), run in trained.items():
        if not r.eta:
            continue
        twin = trained[(model, _Run(r.setting, 0.0, r.n, r.seed))]
        rng_ = ranges[r.setting]
        pop, pop01, pop_error = population[(r.setting, r.eta)][model]
        if pop < -pop_error:  # impossible for minimisers: say which, with the numbers
            raise RuntimeError(f"the population excess of {grid.settings[r.setting].label} ({model}, η = {r.eta}) is "
                               f"{pop:.3g}, below minus its stated error {pop_error:.3g}: a minimiser is wrong")
        bound = symmetric_noise_bound(r.eta, K, rng_.c1, rng_.c2) if np.isfinite(rng_.c2) else None
        setting = grid.settings[r.setting]
        points.append(ExcessPoint(
            source="finite X (exact risks)", task=task.label, model=model, method=setting.family, label=setting.label,
            m=setting.m, eta=r.eta, seed=r.seed, n_train=r.n, protocol=grid.protocol, exact=True,
            excess=run.clean_risk - twin.clean_risk, zero_one_excess=run.zero_one_risk - twin.zero_one_risk,
            population_excess=pop, population_error=pop_error, population_zero_one_excess=pop01, bound=bound,
            bound_covers=("population minimisers within every class, symmetric noise, [C₁, C₂] of Σ_k L over the "
                          "simplex" + ("" if rng_.c2_exact else " (C₂ by search)")) if bound is not None
            else "no bound: Σ_k L is unbounded", noisy_run="", clean_run=""))
    timings = {"data_s": t_data, "train_s": t_train,
               "measure_s": time.perf_counter() - t, "total_s": time.perf_counter() - t0,
               "runs": len(runs), "device": str(device), "threads": torch.get_num_threads()}
    return ExactResult(grid, tuple(trained.values()), tuple(points), timings)
