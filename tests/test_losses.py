"""The loss registry: one definition, three namespaces, correct gradients, documented entries."""

import numpy as np
import pytest
import sympy
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory import losses
from theory.losses import paper_defaults, paper_table_rows
from theory.losses._domains import Interval
from theory.strategies import simplex_points

torch = pytest.importorskip("torch")

ALL = losses.names()
PROB_LOSSES = [n for n in ALL if losses.get(n).input == "probs"]
LOGIT_LOSSES = [n for n in ALL if losses.get(n).input == "logits"]
# Losses with a detached factor: autograd differs from the derivative of the value by design.
DETACHED = {"fl", "nfl", "nfl+rce", "nfl+mae", "fl_eps", "fl_eps+mae", "nnfl", "anl_fl", "bootstrap_soft"}


def _interior(K, n, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(K), size=n) * 0.98 + 0.02 / K


@pytest.mark.parametrize("name", PROB_LOSSES)
@settings(max_examples=15)
@given(data=st.data())
def test_numpy_torch_sympy_agree(name, data):
    K = data.draw(st.integers(2, 4), label="K")
    p = data.draw(simplex_points(K, min_coordinate=1e-3), label="p")
    y = data.draw(st.integers(0, K - 1), label="y")
    L = losses.get(name)
    v_np = L(p[None], np.array([y]))[0]
    z = torch.tensor(np.log(p), dtype=torch.float64)[None]
    v_t = float(L.torch(reduction="none")(z, torch.tensor([y]))[0])
    t = int(np.argmax(p))
    expr = L.sympy(K, y=y, t=t)
    v_s = float(expr.subs(dict(zip(sympy.symbols(f"p_0:{K}", real=True, positive=True), [sympy.Float(x, 30) for x in p]))).evalf(30))
    assert np.isclose(v_np, v_t, rtol=1e-9, atol=1e-12)
    assert np.isclose(v_np, v_s, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", LOGIT_LOSSES)
def test_logit_losses_agree_numpy_torch_sympy(name):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4)) * 2
    y = rng.integers(0, 4, 6)
    L = losses.get(name)
    v_np = L(z, y)
    v_t = L.torch(reduction="none")(torch.tensor(z), torch.tensor(y)).numpy()
    np.testing.assert_allclose(v_np, v_t, rtol=1e-10)
    zs = sympy.symbols("z_0:4", real=True)
    if name == "ce+lc":  # the clip is a branch: sympy evaluates it on concrete logits only
        zs = [sympy.Rational(str(v)) for v in np.round(z[0], 6)]
        expected = L(np.round(z[:1], 6), y[:1])[0]
        assert np.isclose(float(L.sympy(4, y=int(y[0]), symbols=zs)), expected, rtol=1e-9)
    else:
        expr = L.sympy(4, y=int(y[0]))
        assert np.isclose(float(expr.subs(dict(zip(zs, z[0])))), v_np[0], rtol=1e-9)


@pytest.mark.parametrize("name", [n for n in ALL if n not in DETACHED])
def test_torch_gradients_match_finite_differences(name):
    L = losses.get(name, **({"m": 3.0} if "eps" in name else {}))
    crit = L.torch(reduction="sum")
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.normal(size=(3, 4)), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(rng.integers(0, 4, 3))
    assert torch.autograd.gradcheck(lambda zz: crit(zz, y), (z,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", sorted(DETACHED))
def test_detached_factors_get_no_gradient(name):
    # FL: ∇_z = (1 − p_y)^γ (p − e_y); the modulating factor is a constant for autograd.
    L = losses.get(name)
    z = torch.tensor([[1.0, -0.5, 0.3]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    if name == "fl":
        L.torch()(z, y).backward()
        p = torch.softmax(z.detach(), -1)
        expected = (1 - p[0, 0]) ** 0.5 * (p - torch.nn.functional.one_hot(y, 3))
        torch.testing.assert_close(z.grad, expected)
    else:
        L.torch()(z, y).backward()
        assert torch.isfinite(z.grad).all()


def _grad(name, z, y, **params):
    z = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    losses.get(name, **params).torch(reduction="sum")(z, torch.tensor(y)).backward()
    return z.grad.numpy(), torch.softmax(z.detach(), -1).numpy()


@pytest.mark.parametrize("regime", ["y=t", "y!=t"])
@pytest.mark.parametrize("m", [0.0, 2.0, 1e3])
def test_gradients_equal_the_derived_formulas(regime, m):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(8, 5))
    t = np.argmax(z, 1)
    y = t if regime == "y=t" else (t + 1) % 5
    eye = np.eye(5)[y]
    alpha, beta = 0.3, 2.0
    g_ce, p = _grad("ce_eps", z, y, m=m, clamp=0.0)
    py = p[np.arange(8), y][:, None]
    scale = py / (py + m) if regime == "y=t" else np.ones_like(py)
    np.testing.assert_allclose(g_ce, scale * (p - eye), rtol=1e-9, atol=1e-12)
    g_mae, _ = _grad("mae", z, y)
    np.testing.assert_allclose(g_mae, 2 * py * (p - eye), rtol=1e-9, atol=1e-12)
    g_sum, _ = _grad("ce_eps+mae", z, y, alpha=alpha, beta=beta, m=m, clamp=0.0)
    w = (alpha * py / (py + m) if regime == "y=t" else alpha) + 2 * beta * py
    np.testing.assert_allclose(g_sum, w * (p - eye), rtol=1e-9, atol=1e-12)


@given(st.integers(2, 6).flatmap(lambda K: st.tuples(simplex_points(K), st.integers(0, K - 1))))
def test_m_zero_reduces_ce_eps_plus_mae_to_ce_plus_mae(args):
    p, y = args
    a = losses.get("ce_eps+mae", alpha=0.7, beta=1.3, m=0.0, clamp=0.0)(p[None], [y])
    b = losses.get("ce+mae", alpha=0.7, beta=1.3)(p[None], [y])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_m_zero_identity_holds_symbolically():
    K = 3
    for t in range(K):
        a = losses.get("ce_eps+mae", alpha=0.5, beta=2.0, m=0.0, clamp=0.0).sympy(K, t=t)
        b = losses.get("ce+mae", alpha=0.5, beta=2.0).sympy(K)
        assert all(sympy.simplify(u - v) == 0 for u, v in zip(a, b))


def test_mae_on_eps_softmax_is_exactly_symmetric():
    K = 4
    m = sympy.Symbol("m", positive=True)
    L = losses.with_eps_softmax(losses.get("mae"), 5.0, clamp=0.0)
    total = sum(L.sympy(K, t=1))
    p = sympy.symbols("p_0:4", real=True, positive=True)
    assert sympy.simplify(total.subs(p[3], 1 - sum(p[:3])) - 2 * (K - 1)) == 0
    del m


def test_aul_and_every_loss_work_with_100_classes():
    rng = np.random.default_rng(4)
    z = torch.tensor(rng.normal(size=(16, 100)), requires_grad=True)
    y = torch.tensor(rng.integers(0, 100, 16))
    for name in ALL:
        v = losses.get(name).torch()(z, y)
        if name == "zero_one":  # piecewise constant: no gradient to take
            assert torch.isfinite(v) and not v.requires_grad
            continue
        v.backward()
        assert torch.isfinite(v) and torch.isfinite(z.grad).all(), name
        z.grad = None


def test_nlnl_is_finite_where_the_reference_returns_nan():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    v = losses.get("nlnl")(p, np.array([1, 0]))
    assert np.all(np.isfinite(v)) and np.all(v > 0)
    z = torch.tensor([[80.0, -80.0, 0.0]], dtype=torch.float64, requires_grad=True)
    losses.get("nlnl").torch()(z, torch.tensor([1])).backward()
    assert torch.isfinite(z.grad).all()


def test_every_entry_is_documented_and_rebuildable():
    for name in ALL:
        spec = losses.spec(name)
        assert spec.formula and spec.source
        L = spec.build()
        assert L.structure in ("pointwise", "argmax_pointwise", "normalised", "general")
        assert losses.get(name, **spec.defaults).name == L.name


def test_structure_declarations_hold():
    """A loss declared pointwise depends on p_y only: changing the other coordinates (same p_y)
    leaves its value unchanged."""
    rng = np.random.default_rng(5)
    K, n = 5, 200
    p = rng.dirichlet(np.ones(K), size=n)
    y = rng.integers(0, K, n)
    rows = np.arange(n)
    py = p[rows, y]
    other = rng.dirichlet(np.ones(K), size=n)
    other[rows, y] = 0.0
    p2 = other / other.sum(1, keepdims=True) * (1 - py)[:, None]
    p2[rows, y] = py
    assert not np.allclose(p, p2)
    checked = 0
    for name in PROB_LOSSES:
        L = losses.get(name)
        if L.structure == "pointwise":
            np.testing.assert_allclose(L(p, y), L(p2, y), rtol=1e-9, err_msg=name)
            checked += 1
    assert checked >= 8


def test_normalised_declarations_hold():
    """A loss declared normalised is non-negative with Σ_k L(p, k) = 1 on the open simplex."""
    p = np.random.default_rng(6).dirichlet(np.full(6, 0.3), size=300)
    p = np.maximum(p, 1e-300)
    p /= p.sum(1, keepdims=True)
    checked = 0
    for name in PROB_LOSSES:
        L = losses.get(name)
        if L.structure == "normalised":
            vectors = np.stack([L(p, np.full(len(p), k)) for k in range(6)], 1)
            assert np.all(vectors >= 0), name
            np.testing.assert_allclose(vectors.sum(1), 1.0, rtol=1e-12, err_msg=name)
            checked += 1
    assert checked == 2


def test_paper_defaults_lookup():
    assert paper_defaults("cifar10", "symmetric", 0.8, "ce_eps+mae") == {"alpha": 0.01, "beta": 5.0, "m": 1e5}
    assert paper_defaults("cifar10", "clean", 0.0, "fl_eps+mae")["m"] == 1e5
    assert paper_defaults("cifar100", "asymmetric", 0.2, "CE_ε+MAE") == {"alpha": 0.007, "beta": 1.0, "m": 1e2}
    assert paper_defaults("cifar100", "symmetric", 0.6, "ce_eps+mae")["alpha"] == 0.00125
    assert paper_defaults("cifar10", "symmetric", 0.6, "ce+lc") == {"delta": 1.5}
    assert paper_defaults("cifar100", "symmetric", 0.4, "nce+agce") == {"alpha": 10.0, "beta": 0.1, "a": 1.8, "q": 3.0}
    for row in paper_table_rows():
        L = losses.get(row["method"], **row["params"])
        assert all(L.params[k] == v for k, v in row["params"].items())


@pytest.mark.parametrize(
    "args, match",
    [
        (("cifar100", "symmetric", 0.3, "ce_eps+mae"), "defines no hyper-parameters"),
        (("cifar10", "human", 0.0, "ce_eps+mae"), "defines no hyper-parameters"),
        (("webvision", "real", 0.0, "gce"), "defines no hyper-parameters"),
        (("imagenet", "symmetric", 0.2, "ce"), "dataset must be one of"),
        (("cifar10", "symmetric", 1.2, "ce"), r"rate must be a number in \[0, 1\)"),
    ],
)
def test_paper_defaults_refuse_undefined_combinations(args, match):
    with pytest.raises(ValueError, match=match):
        paper_defaults(*args)


def test_unknown_names_and_parameters_are_refused():
    with pytest.raises(KeyError, match="no loss named 'cee'; registered: ce"):
        losses.get("cee")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['qq'\]; accepted: q, clamp"):
        losses.get("gce", qq=0.5)
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        -1.0 * losses.get("ce")


# parameters whose values a registered loss validates itself rather than through a domain
_UNDECLARED = {("nlnl", "weights")}


#: clamps that are not the paper's, each a convention of its own source
_OWN_CLAMP = {"nlnl": "the NLNL reference clamps 1 − p_ȳ at 1e-5 before its log"}


def test_every_clamp_of_the_registry_is_the_papers_unless_its_source_says_otherwise():
    from theory.softmax import PAPER_CLAMP

    clamped = {n: losses.spec(n).defaults["clamp"] for n in losses.names() if "clamp" in losses.spec(n).defaults}
    assert {"gce", "rce", "ce_eps", "fl_eps", "ce_eps+mae", "fl_eps+mae"} <= set(clamped)
    assert {n for n, c in clamped.items() if c != PAPER_CLAMP} == set(_OWN_CLAMP)
    assert losses.with_eps_softmax(losses.get("mae"), 10.0).params["clamp"] == PAPER_CLAMP


def test_every_parameter_of_every_registered_loss_has_a_declared_domain():
    for name in losses.names():
        spec = losses.spec(name)
        missing = set(spec.defaults) - set(spec.domains) - {p for n, p in _UNDECLARED if n == name}
        assert not missing, f"{name} declares no domain for {sorted(missing)}"


def test_every_paper_hyper_parameter_lies_in_its_declared_domain():
    for row in paper_table_rows():
        losses.get(row["method"], **row["params"])  # raises when a table entry leaves its domain


def _outside(domain):
    """Values outside an Interval: beyond each finite end (and the end itself where it is open),
    non-finite numbers, and a string."""
    values = [float("nan"), float("inf"), -float("inf"), "0.5"]
    if np.isfinite(domain.lo):
        values += [domain.lo - 1.0, np.nextafter(domain.lo, -np.inf)] + ([domain.lo] if domain.lo_open else [])
    if np.isfinite(domain.hi):
        values += [domain.hi + 1.0, np.nextafter(domain.hi, np.inf)] + ([domain.hi] if domain.hi_open else [])
    return values


def _ldr_kl_direct(z, y, theta, lam):
    """LDR-KL as defined: λ·log[(1/K) Σ_k exp((θ·1[k≠y] + f̂_k − f̂_y)/λ)], a max-shifted sum."""
    f = np.logaddexp(0.0, z)
    fh = f / f.mean(1, keepdims=True)
    margin = theta * (1 - np.eye(z.shape[1])[y]) + fh - fh[np.arange(len(y)), y][:, None]
    top = (margin / lam).max(1, keepdims=True)
    return lam * (top[:, 0] + np.log(np.exp(margin / lam - top).sum(1)) - np.log(z.shape[1]))


@settings(max_examples=40, deadline=None)
@given(st.floats(-5.0, 2.0), st.sampled_from([2, 3, 10, 100]), st.integers(0, 2**32 - 1))
@example(np.log10(0.00244140625), 3, 0)  # −inf before: e^{−θ/λ} and 1 − s_y both rounded away
@example(np.log10(0.1 / np.log(1e3)), 10, 1)  # at the switch between the two forms
@example(-1.75, 2, 0)  # a value near 0 from θ + λ·(…) cancelling: rounding scales with θ, not with the value
def test_ldr_kl_equals_its_definition_for_every_lambda(log_lam, K, seed):
    lam = 10.0**log_lam
    rng = np.random.default_rng(seed)
    z, y = 3 * rng.normal(size=(40, K)), rng.integers(0, K, 40)
    L = losses.get("ldr_kl", lam=lam)
    ref = _ldr_kl_direct(z, y, 0.1, lam)
    # the value is θ + λ·B with |λB| ≤ θ + |value|: its rounding is relative to θ + λ as well as to the value
    np.testing.assert_allclose(L(z, y), ref, rtol=1e-12, atol=1e-12 * (lam + 2 * 0.1))
    vectors = L.vectors(z)  # every label at once, as the minimisers evaluate it
    np.testing.assert_allclose(vectors[np.arange(40), y], ref, rtol=1e-12, atol=1e-12 * (lam + 2 * 0.1))


_INTERVAL_PARAMS = [(n, k) for n in losses.names() for k, d in losses.spec(n).domains.items()
                    if isinstance(d, Interval)]


@pytest.mark.parametrize("name, param", _INTERVAL_PARAMS)
def test_a_parameter_outside_its_domain_is_refused_naming_the_loss_the_parameter_and_the_value(name, param):
    domain = losses.spec(name).domains[param]
    for value in _outside(domain):
        with pytest.raises((TypeError, ValueError)) as info:
            losses.get(name, **{param: value})
        message = str(info.value)
        assert f"loss {name!r} parameter {param!r}" in message and str(domain) in message
        assert repr(value) in message or repr(value)[:40] in message


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_INTERVAL_PARAMS), st.floats(0.0, 1.0, exclude_max=True))
@example(("gce", "q"), 0.0)
@example(("aul", "a"), 0.0)
def test_a_parameter_inside_its_domain_builds_a_loss_with_finite_values(case, u):
    """Any value inside a domain (its closed ends and points between; an unbounded interval up
    to 10 past its end, beyond which powers like (a + 1)^q leave float range) gives a loss whose
    values on interior points are finite."""
    name, param = case
    domain = losses.spec(name).domains[param]
    lo = domain.lo if np.isfinite(domain.lo) else -10.0
    hi = domain.hi if np.isfinite(domain.hi) else lo + 10.0
    value = lo + (hi - lo) * u ** 3  # denser towards lo, where the interesting ends are
    if not domain.contains(value):
        value = lo + (hi - lo) * 0.5
    L = losses.get(name, **{param: value})
    p = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    x = np.log(p) if L.input == "logits" else p
    assert np.all(np.isfinite(L(x, np.array([0, 2]))))


def test_users_can_register_a_loss_and_wrap_it_with_eps_softmax():
    @losses.register("test_power_mae", formula="(1 − p_y)^k", structure="pointwise", replace=True)
    def power_mae(xp, pred, y, *, k=1.5):
        return (1 - xp.take(pred.p, y, axis=-1)) ** k

    L = losses.get("test_power_mae", k=2.0)
    p = np.array([[0.7, 0.3], [0.2, 0.8]])
    np.testing.assert_allclose(L(p, np.array([0, 0])), [0.09, 0.64])
    Le = losses.with_eps_softmax(L, m=1.0, clamp=0.0)
    assert Le.structure == "argmax_pointwise"
    np.testing.assert_allclose(Le(p, np.array([0, 0])), [(1 - 0.85) ** 2, (1 - 0.1) ** 2])
    with pytest.raises(ValueError, match="already registered"):
        losses.register("test_power_mae", power_mae, formula="again")


@pytest.mark.parametrize(
    "p, y, err, match",
    [
        (np.array([[0.5, 0.5]]), np.array([2]), ValueError, r"labels must lie in \[0, 1\] for K=2 classes, got 2"),
        (np.array([[0.5, 0.5]]), np.array([0, 1]), ValueError, r"shape \(1,\) to match"),
        (np.array([[0.5, 0.6]]), np.array([0]), ValueError, "sum to 1"),
        (np.array([[np.nan, 1.0]]), np.array([0]), ValueError, "finite"),
        (np.array([[0.5, 0.5]]), np.array([0.5]), TypeError, "integer class labels"),
        (np.array([["a", "b"]]), np.array([0]), TypeError, "numeric array of probabilities"),
    ],
)
def test_bad_loss_inputs(p, y, err, match):
    with pytest.raises(err, match=match):
        losses.get("ce")(p, y)


def test_torch_criterion_rejects_bad_inputs():
    crit = losses.get("ce_eps+mae").torch()
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        crit(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\], got 3"):
        crit(z, torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="integer tensor"):
        crit(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.get("ce").torch(reduction="avg")


def test_sympy_asks_for_the_region_for_eps_losses():
    with pytest.raises(ValueError, match=r"pass t=\.\.\. to L.sympy\(\)"):
        losses.get("ce_eps").sympy(3)


def test_pointwise_builds_a_loss_of_p_y_and_rejects_bad_arguments():
    square = losses.pointwise("square", lambda xp, u: (1 - u) ** 2, curvature="convex")
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(square(p, np.array([1, 1])), [0.04, 0.36])
    assert square.structure == "pointwise" and square.curvature == "convex"
    with pytest.raises(TypeError, match="callable phi"):
        losses.pointwise("bad", 3.0)
    with pytest.raises(ValueError, match="curvature must be"):
        losses.pointwise("bad", lambda xp, u: u, curvature="wavy")


@pytest.mark.parametrize("name", losses.names())
def test_every_registered_loss_states_its_kinds_as_members_not_strings(name):
    L = losses.get(name)
    assert type(L.input) is losses.Input and type(L.structure) is losses.Structure
    assert L.curvature is None or type(L.curvature) is losses.Curvature
    for part in L.walk():  # a composite's terms too: WeightedSum, EpsWrapped and Named derive theirs
        assert type(part.input) is losses.Input and type(part.structure) is losses.Structure


def test_kinds_given_as_strings_become_members_and_a_bad_one_is_named():
    fn = lambda xp, pred, y: 1 - pred.py(y)  # noqa: E731
    atom = losses.Atom(name="mae_again", fn=fn, input="probs", kind="pointwise", curvature_of=lambda _p: "linear")
    assert atom.input is losses.Input.PROBS and atom.structure is losses.Structure.POINTWISE
    assert atom.curvature is losses.Curvature.LINEAR
    logit = losses.from_callable(lambda z, y: z[np.arange(len(y)), y], input="logits")
    assert logit.input is losses.Input.LOGITS and logit.input.symbol == "logits"
    with pytest.raises(ValueError, match=r"input must be 'probs' / 'logits', got 'prob'"):
        losses.from_callable(lambda p, y: p[:, 0], input="prob")
    with pytest.raises(ValueError, match=r"structure must be 'pointwise' / .* got 'pointwize'"):
        losses.register("bad_structure", fn, formula="1 − p_y", structure="pointwize")
    with pytest.raises(ValueError, match=r"input must be 'probs' / 'logits', got 3"):
        losses.Atom(name="bad_input", fn=fn, input=3)


def _readme_block(after: str) -> str:
    """The first ```python block of the README after the line containing ``after``."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("```python", text.index(after)) + len("```python")
    return text[start:text.index("```", start)]


def test_the_readme_torch_training_loop_runs_and_learns():
    torch.manual_seed(0)
    x = torch.randn(256, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    model = torch.nn.Linear(5, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)] * 20
    before = (model(x).argmax(1) == y).float().mean()
    exec(_readme_block("in your own PyTorch training loop"),
         {"loader": loader, "model": model, "optimizer": optimizer})
    assert (model(x).argmax(1) == y).float().mean() > max(0.7, before + 0.2)  # it learns (chance: ~0.4)


def test_the_readme_parametrize_with_checks_example_collects_one_test_per_check():
    namespace = {"my_loss": lambda p, y: (1 - p[np.arange(len(y)), y]) ** 1.5}
    exec(_readme_block("In a test suite"), namespace)
    marks = [m for m in namespace["test_my_loss"].pytestmark if m.name == "parametrize"]
    assert marks and len(marks[0].args[1]) >= 10  # one parameter set per check
