"""The array namespaces are one explicit interface: every method behaves the same under numpy,
torch and sympy, and losses a user registers (not only the library's) give the same values
through all three."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import sympy as sp

from theory import losses
from theory.xp import NUMPY, ArrayNamespace, sympy_namespace

torch = pytest.importorskip("torch")
from theory.xp import torch_namespace  # noqa: E402

P = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
Y = np.array([1, 2])


def _backends():
    sym = sympy_namespace()
    return {"numpy": (NUMPY, P, Y, lambda v: np.asarray(v, dtype=float)),
            "torch": (torch_namespace(), torch.tensor(P), torch.tensor(Y), lambda v: v.detach().numpy()),
            "sympy": (sym, np.array([[sp.Rational(repr(float(v))) for v in row] for row in P], dtype=object), Y,
                      lambda v: np.vectorize(lambda e: float(sp.N(e, 30)), otypes=[float])(np.asarray(v, dtype=object)))}


def test_every_namespace_implements_the_whole_interface():
    abstract = {n for n, f in inspect.getmembers(ArrayNamespace) if getattr(f, "__isabstractmethod__", False)}
    assert {"take", "sum", "one_hot", "argmax", "check_probs", "call_plain", "with_argmax"} <= abstract
    for name, (xp, *_rest) in _backends().items():
        assert isinstance(xp, ArrayNamespace), name  # an abstract method left out could not be instantiated


OPS = {
    "take": lambda xp, p, y: xp.take(p, y, axis=-1),
    "sum": lambda xp, p, y: xp.sum(p * p, axis=-1),
    "mean": lambda xp, p, y: xp.mean(p, axis=-1),
    "norm": lambda xp, p, y: xp.norm(p, axis=-1),
    "one_hot": lambda xp, p, y: xp.one_hot(y, like=p, axis=-1),
    "logsumexp": lambda xp, p, y: xp.logsumexp(p, axis=-1),
    "softmax": lambda xp, p, y: xp.softmax(p, axis=-1),
    "log_softmax": lambda xp, p, y: xp.log_softmax(p, axis=-1),
    "expand": lambda xp, p, y: xp.expand(xp.sum(p, axis=-1), axis=-1) * p,
    "log/exp/maximum": lambda xp, p, y: xp.exp(xp.log(xp.maximum(p, 0.25))),
    "softplus": lambda xp, p, y: xp.softplus(p),
    "where": lambda xp, p, y: xp.where(xp.one_hot(y, like=p, axis=-1) > 0, p, 1 - p),
    "asarray": lambda xp, p, y: p * xp.asarray([1.0, 2.0, 3.0], like=p),
    "argmax": lambda xp, p, y: xp.argmax(p, axis=-1),
}


@pytest.mark.parametrize("op", list(OPS))
def test_every_operation_agrees_across_namespaces(op):
    values = {name: to_np(OPS[op](xp, p, y)) for name, (xp, p, y, to_np) in _backends().items()}
    np.testing.assert_allclose(values["torch"], values["numpy"], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(values["sympy"], values["numpy"], rtol=1e-14, atol=1e-15)


def test_axes_are_explicit():
    with pytest.raises(TypeError):
        NUMPY.sum(P)  # no implicit class axis
    with pytest.raises(ValueError, match="class axis is -1"):
        NUMPY.take(P, Y, axis=0)


@pytest.fixture(scope="module")
def user_losses():
    @losses.register("user_k_aware", formula="(1 − p_y)·K", structure="pointwise", curvature="linear", replace=True)
    def k_aware(xp, pred, y):
        return (1 - pred.py(y)) * pred.K

    @losses.register("user_general", formula="Σ_k (p_k − e_y)² + log Σ_k exp(p_k)", replace=True)
    def general(xp, pred, y):
        p = pred.p
        return xp.sum((p - xp.one_hot(y, like=p, axis=-1)) ** 2, axis=-1) + xp.logsumexp(p, axis=-1)

    return ("user_k_aware", "user_general")


@pytest.mark.parametrize("m", [None, 0.0, 1.0, 1e4])
def test_user_registered_losses_agree_in_numpy_torch_and_sympy(user_losses, m):
    """The issue's example: a pointwise loss reading pred.K under ε-softmax at m = 1 gave 0.85
    under numpy and 2.55 under sympy at p = (0.6, 0.3, 0.1), y = 1."""
    for name in user_losses:
        L = losses.get(name) if m is None else losses.with_eps_softmax(losses.get(name), m)
        ref = L(P, Y)
        with torch.no_grad():
            z = torch.log(torch.tensor(P))
            np.testing.assert_allclose(L.torch(reduction="none")(z, torch.tensor(Y)).numpy(), ref, rtol=1e-12)
        for i in range(len(P)):
            t = int(np.argmax(P[i]))
            exact = [sp.Rational(repr(float(v))) for v in P[i]]
            val = float(sp.N(L.sympy(3, y=int(Y[i]), t=t, symbols=exact), 30))
            assert val == pytest.approx(ref[i], rel=1e-12), (name, m, i)
    if m == 1.0:
        v = losses.with_eps_softmax(losses.get("user_k_aware"), 1.0)(P[:1], Y[:1])[0]
        assert v == pytest.approx((1 - 0.3 / 2) * 3)


def test_with_eps_softmax_accepts_a_plain_function():
    def mae(p, y):
        return 2 * (1 - p[np.arange(len(y)), y])

    L = losses.with_eps_softmax(mae, 1e3)
    np.testing.assert_allclose(L(P, Y), losses.get("mae").__class__ and losses.with_eps_softmax(losses.get("mae"), 1e3)(P, Y))
    with pytest.raises(NotImplementedError, match="no symbolic form"):
        L.sympy(3, y=0, t=0)


def _library_losses():
    from theory.losses import with_eps_softmax

    out = [(name, losses.get(name)) for name in losses.names() if losses.spec(name).source != "user"]
    out.append(("ce_eps(m=1e4, clamp=0)", with_eps_softmax(losses.get("ce"), 1e4, clamp=0.0)))
    out.append(("gce+mae", losses.get("gce") + 2.0 * losses.get("mae")))
    return out


@pytest.mark.parametrize("K", [2, 3, 10])
def test_losses_that_declare_broadcasting_give_the_per_label_loss_vector(K):
    """Loss vectors of a loss that declares ``broadcasts`` (every library loss) come from one
    evaluation of each point against all labels; they must equal K separate evaluations bit for bit,
    on vertices, faces, ties and random points."""
    from theory.minimise import loss_vectors

    rng = np.random.default_rng(K)
    P = np.vstack([np.eye(K), np.full((1, K), 1.0 / K), rng.dirichlet(np.ones(K), size=40),
                   rng.dirichlet(0.05 * np.ones(K), size=20)])
    P[-1, :2], P[-1, 2:] = 0.5, 0.0
    Z = rng.normal(scale=4.0, size=(60, K))
    for name, L in _library_losses():
        assert L.broadcasts, name
        X = Z if L.input == "logits" else P
        fast = loss_vectors(L, X)
        with np.errstate(all="ignore"):
            slow = np.stack([(L.from_logits if L.input == "logits" else L)(X, np.full(len(X), k), validate=False)
                             for k in range(K)], axis=1)
        np.testing.assert_array_equal(fast, slow, err_msg=name)


def test_user_losses_do_not_broadcast_unless_they_say_so():
    from theory.losses import from_callable, with_eps_softmax

    user = from_callable(lambda p, y: 1 - p[np.arange(len(y)), y])
    assert not user.broadcasts and not with_eps_softmax(user, 1.0).broadcasts
    assert not (losses.get("mae") + user).broadcasts
