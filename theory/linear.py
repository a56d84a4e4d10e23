"""Risk minimisers within a restricted hypothesis class: linear models on finite problems.

With one free prediction per x (the tabular class of :mod:`theory.finite`), symmetric noise
never moves the Bayes class: q̃ = a·q + (1 − a)/K is an increasing affine map of q. Robustness
bites for a *restricted* class, where one parameter vector serves every x and the fit trades
points against each other. This module computes minimisers within

    F_B = { x ↦ softmax(z(x)) : z(x) = (W φ(x) + b, 0),  |W_kj| ≤ B, |b_k| ≤ B },

the linear class on features φ(x) ∈ R^d with the last class as reference (its logit is 0: the
softmax is invariant to a shift common to all logits, so nothing is lost) and every weight and
bias in [−B, B] (B = :data:`BOUND` by default), so that minimisers exist: without a bound the
infimum of a bounded loss is often approached only as ‖W‖ → ∞. Theorem B's proof never uses the
richness of the class (claim ``theorem_b.bound``: "every class of predictors"), so it holds for
the minimisers within F_B, with [C₁, C₂] the range of Σ_k L over the outputs F_B can produce; the
simplex's range contains it, and that is the range used.

How a minimum is found, and what it states (:class:`ClassMinimum`):

- **CE** (:data:`CONVEX_IN_LOGITS`; the only registered loss convex in the logits, see below):
  L-BFGS-B with the exact gradient Σ_x P(x)(p(x) − q(x)) ⊗ φ̃(x), then a certificate. On the ball
  of radius ρ about the found θ̂ every probability is at least p̂_min·e^{−2ρ‖φ̃(x)‖}, so the risk's
  Hessian is at least μ_ρ = λ_min(Σ_x P(x) p_min(x)/K · φ̃φ̃ᵀ) there. If ρ > 2‖∇R(θ̂)‖/μ_ρ then R
  exceeds R(θ̂) on the sphere, so the unique minimiser lies in the ball: its value is within
  ‖∇R‖²/(2μ_ρ) of R(θ̂), and at each x whose logit margin exceeds 2ρ‖φ̃(x)‖ its argmax is θ̂'s
  (``argmax_certain``). The ball must lie inside the box (otherwise nothing is certified).
- **every other loss**: multi-start L-BFGS-B in the box (zero, random, CE's minimiser scaled by
  1, 4 and 16, the tabular minimiser projected onto the class, and any ``starts`` given), all
  starts descending together with central-difference gradients, the best polished alone. Not
  certified: ``value_error`` is +inf. ``tabular_gap`` = value − (certified lower bound of the
  tabular minimum) always bounds value − inf_F from above (F_B is a subset of the tabular
  class), but it includes the class's approximation error, so it is loose when F_B is restricted.

Which losses are convex in the logits: L(softmax(z), y) = −log p_y is (its Hessian is
diag(p) − ppᵀ ⪰ 0). Bounded losses (MAE, GCE, RCE, NCE, the ε-losses with a clamp, …) cannot be:
a convex function bounded on all of R^K is constant. MSE on the softmax is not (at K = 2 it is
2(1 − σ(z))², concave where σ(z) < 1/3); nor are focal loss with γ > 0, CE with logit clipping,
LDR-KL on the reference's normalised-softplus scores, and the ε-losses (p_ε jumps where the
argmax changes). The test-suite finds a pair of logits violating midpoint convexity for
every registered loss other than CE at its defaults. LDR-KL with ``scores="raw"`` is convex (a
log-sum-exp of affine functions of z) but has no certificate here: the multi-start search minimises it.

Conventions: q (n_x, K) is P(y | x); P(x) is ``problem.px``; θ is W̃ = [W | b] of shape
(K − 1, d + 1), flattened; φ̃(x) = (φ(x), 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theory.finite import FiniteProblem
from theory.losses import Input, Loss
from theory.minimise import conditional_risk, minimise_conditional_risk, risk_of_vectors
from theory.streams import generator, stream
from theory.tolerances import LBFGS_FTOL, LBFGS_GTOL, SAME_VALUE_REL, START_LOG_FLOOR
from theory.validation import check_seed

__all__ = ["BOUND", "CONVEX_IN_LOGITS", "ClassExcessRow", "ClassMinimum", "LinearClass", "class_excess",
           "linear_problem", "minimise_in_class", "random_features", "start_stream"]

#: the default box on weights and biases
BOUND = 30.0
#: registered losses (by name, default parameters) that are convex in the logits: certified minima
CONVEX_IN_LOGITS = frozenset({"ce"})
_EPS = np.finfo(float).eps
#: the certified CE fit stops at a gradient this small: the ball that holds the minimiser has a radius
#: proportional to the gradient left (:func:`_certify_ce`), so the fit is driven below the searches' rule
_CE_FIT_OPTIONS = {"maxiter": 2000, "ftol": 1e-16, "gtol": 1e-13}
_CE_REFINE_OPTIONS = {"gtol": 1e-14, "maxiter": 500}
#: the argmax at x is certain when the top logit leads by more than the ball allows, plus this (relative)
#: rounding allowance of the logits
_MARGIN_ROUNDING_REL = 1e-12
#: a re-run of the clean search replaces the previous one only when lower by more than this (relative)
_IMPROVEMENT_REL = 1e-12


@dataclass(frozen=True)
class LinearClass:
    """F_B on the features ``features`` (n_x, d): z(x) = (W φ(x) + b, 0), every parameter in [−B, B]."""

    features: np.ndarray
    bound: float = BOUND

    def __post_init__(self):
        phi = np.asarray(self.features, dtype=np.float64)
        if phi.ndim != 2 or phi.shape[0] < 1 or phi.shape[1] < 1:
            raise ValueError(f"features must have shape (n_x, d) with n_x, d >= 1, got shape {phi.shape}")
        if not np.all(np.isfinite(phi)):
            raise ValueError(f"features must be finite, got {phi[~np.isfinite(phi)][:3].tolist()} among them")
        if not (isinstance(self.bound, (int, float)) and 0 < self.bound < np.inf):
            raise ValueError(f"bound must be a positive finite number (the box on weights and biases), "
                             f"got {self.bound!r}")
        object.__setattr__(self, "features", phi)
        object.__setattr__(self, "bound", float(self.bound))

    @property
    def n_x(self) -> int:
        return self.features.shape[0]

    @property
    def d(self) -> int:
        return self.features.shape[1]

    @property
    def design(self) -> np.ndarray:
        """φ̃(x) = (φ(x), 1) for every x: (n_x, d + 1)."""
        return np.hstack([self.features, np.ones((self.n_x, 1))])

    @property
    def restricted(self) -> bool:
        """Whether the (unbounded) class misses some table of logits: rank φ̃ < n_x."""
        return bool(np.linalg.matrix_rank(self.design) < self.n_x)

    def n_params(self, K: int) -> int:
        return (K - 1) * (self.d + 1)

    def logits(self, theta: np.ndarray, K: int) -> np.ndarray:
        """z(x) for every x and every row of ``theta`` (..., (K−1)(d+1)): (..., n_x, K)."""
        W = np.asarray(theta, dtype=np.float64).reshape(*np.shape(theta)[:-1], K - 1, self.d + 1)
        free = np.einsum("...kj,xj->...xk", W, self.design)
        return np.concatenate([free, np.zeros(free.shape[:-1] + (1,))], axis=-1)

    def project(self, Z: np.ndarray) -> np.ndarray:
        """The parameters whose logits fit the table ``Z`` (n_x, K) best in least squares (after
        taking the reference logit off every row), clipped to the box."""
        target = Z[:, :-1] - Z[:, -1:]
        W, *_ = np.linalg.lstsq(self.design, target, rcond=None)
        return np.clip(W.T, -self.bound, self.bound).ravel()


def random_features(n_x: int, d: int, *, seed) -> np.ndarray:
    """Features uniform in [−1, 1]^d (n_x, d)."""
    return generator(seed).uniform(-1.0, 1.0, size=(n_x, d))


@dataclass(frozen=True)
class ClassMinimum:
    """A minimiser of the risk within a :class:`LinearClass` (see the module docstring).

    ``value`` is its risk; ``value_error`` a certified bound on value − inf_F (+inf when not
    certified); ``radius`` the radius of a ball about ``theta`` holding the unique minimiser
    (+inf when not certified); ``argmax_certain`` (n_x,) whether every minimiser has θ̂'s argmax
    at x (all False when not certified); ``tabular_gap`` value − (certified lower bound of the
    tabular minimum), an upper bound on value − inf_F that holds for every loss; ``starts`` how
    many starting points the search used and ``hits`` how many of them ended within SAME_VALUE_REL
    (1e-9, relative) of the best (1 for a convex loss: one start suffices).
    """

    theta: np.ndarray = field(repr=False)
    logits: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    value: float
    certified: bool
    value_error: float
    radius: float
    argmax_certain: np.ndarray = field(repr=False)
    tabular_gap: float
    method: str
    starts: int
    hits: int

    @property
    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(-1, keepdims=True)

    @property
    def prediction(self) -> np.ndarray:
        """The first-index argmax of the logits at every x."""
        return np.argmax(self.logits, axis=-1)


def _is_convex_in_logits(L: Loss) -> bool:
    return L.name in CONVEX_IN_LOGITS and not getattr(L, "params", None) and L.input is Input.PROBS


def _risk_terms(L: Loss, Z: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """C_q(softmax z) for rows of Z and Q (…, K); non-finite values become +inf."""
    with np.errstate(all="ignore"):
        r = conditional_risk(L, Z.reshape(-1, Z.shape[-1]), np.broadcast_to(Q, Z.shape).reshape(-1, Z.shape[-1]),
                             logits=True).reshape(Z.shape[:-1])
    return np.where(np.isfinite(r), r, np.inf)


def _ce_risk_and_gradient(cls: LinearClass, px: np.ndarray, q: np.ndarray, theta: np.ndarray):
    K = q.shape[1]
    Z = cls.logits(theta, K)
    top = Z.max(-1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(Z - top).sum(-1))
    value = float(px @ (lse - (q * Z).sum(-1)))
    p = np.exp(Z - lse[:, None])
    G = ((px[:, None] * (p - q))[:, :-1]).T @ cls.design  # (K−1, d+1)
    return value, G.ravel(), p


def _certify_ce(cls: LinearClass, px: np.ndarray, q: np.ndarray, theta: np.ndarray):
    """(value_error, radius, argmax_certain) for CE at θ̂ (see the module docstring)."""
    K = q.shape[1]
    value, g, p = _ce_risk_and_gradient(cls, px, q, theta)
    phi = cls.design
    norms = np.linalg.norm(phi, axis=1)
    # float64 allowance on the gradient: each entry sums n_x terms of size ≤ P(x)‖φ̃‖
    g_norm = float(np.linalg.norm(g)) + 8 * _EPS * cls.n_x * K * float(norms.max()) * np.sqrt(g.size)
    p_min = p.min(-1)
    none = (np.inf, np.inf, np.zeros(cls.n_x, bool))

    def mu(rho: float) -> float:
        w = px * p_min * np.exp(-2 * rho * norms) / K
        return float(np.linalg.eigvalsh((phi * w[:, None]).T @ phi)[0])

    mu0 = mu(0.0)
    if not mu0 > 0:
        return none
    rho = 4.4 * g_norm / mu0
    mu_rho = mu(rho)
    if not (mu_rho > 0 and rho > 2 * g_norm / mu_rho) or np.abs(theta).max() + rho >= cls.bound:
        return none
    rounding = 64 * _EPS * cls.n_x * K * (1 + abs(value))
    value_error = min(g_norm * rho, g_norm**2 / (2 * mu_rho)) + rounding
    Z = cls.logits(theta, K)
    srt = np.sort(Z, -1)
    margin = srt[:, -1] - srt[:, -2]
    return value_error, rho, margin > 2 * rho * norms + _MARGIN_ROUNDING_REL * (1 + np.abs(srt[:, -1]))


def _descend(L: Loss, cls: LinearClass, px: np.ndarray, q: np.ndarray, starts: np.ndarray, *, step: float = 1e-6,
             maxiter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """All ``starts`` (S, n) descend together on Σ_s R(θ_s) with L-BFGS-B in the box; returns the
    best point each start visited and its risk. Gradients: central differences of the logits,
    chained through the linear map."""
    from scipy.optimize import minimize

    S, n = starts.shape
    K = q.shape[1]
    eye = step * np.eye(K)[:-1]  # the reference logit is not a parameter
    best_t, best_f = starts.copy(), np.full(S, np.inf)

    def fg(x):
        T = x.reshape(S, n)
        Z = cls.logits(T, K)  # (S, n_x, K)
        f = px @ _risk_terms(L, Z, q).T  # (S,)
        keep = f < best_f
        best_f[keep], best_t[keep] = f[keep], T[keep]
        shifted = np.concatenate([Z[None] + eye[:, None, None, :], Z[None] - eye[:, None, None, :]])
        F = _risk_terms(L, shifted, q)  # (2(K−1), S, n_x)
        dz = (F[: K - 1] - F[K - 1:]) / (2 * step)  # (K−1, S, n_x)
        dz = np.where(np.isfinite(dz), dz, 0.0) * px
        G = np.einsum("ksx,xj->skj", dz, cls.design)
        finite = np.isfinite(f)
        return float(np.sum(np.where(finite, f, 0.0))), np.where(finite[:, None, None], G, 0.0).ravel()

    B = cls.bound
    minimize(fg, starts.ravel(), jac=True, method="L-BFGS-B", bounds=[(-B, B)] * starts.size,
             options={"maxiter": maxiter, "ftol": LBFGS_FTOL, "gtol": LBFGS_GTOL})
    return best_t, best_f


def start_stream(seed: int, K: int, cls: LinearClass) -> np.random.Generator:
    """The random starts of :func:`minimise_in_class`: a stream keyed by what it draws
    (:func:`theory.streams.stream`), never the stream :func:`linear_problem` draws a problem from,
    so a search is independent of the problem it solves even when both are given the same seed."""
    return stream(seed, "theory.linear.minimise_in_class starts", K, cls.n_x, cls.d)


def minimise_in_class(L: Loss, problem: FiniteProblem, cls: LinearClass, *, seed: int = 0, n_random: int = 6,
                      starts: tuple[np.ndarray, ...] = (), tabular=None) -> ClassMinimum:
    """The minimiser of E L(f(x), y) over f ∈ ``cls`` (see the module docstring).

    ``starts``: extra parameter vectors to start from (e.g. the minimiser of a twin problem);
    ``tabular``: the tabular :class:`~theory.minimise.Minimum` of ``problem`` when the caller has
    it (it gives ``tabular_gap`` and a start)."""
    from scipy.optimize import minimize

    if cls.n_x != problem.n_x:
        raise ValueError(f"the class has features for {cls.n_x} points, the problem has {problem.n_x}")
    px, q, K = problem.px, problem.posterior, problem.K
    n = cls.n_params(K)
    tabular = tabular if tabular is not None else minimise_conditional_risk(L, q, seed=seed)
    lower = float(px @ (tabular.value - tabular.value_error))
    B = cls.bound

    # the convex fit (CE) first: certified for CE, a start for everything else
    ce = minimize(lambda t: _ce_risk_and_gradient(cls, px, q, t)[:2], np.zeros(n), jac=True, method="L-BFGS-B",
                  bounds=[(-B, B)] * n, options=_CE_FIT_OPTIONS)
    theta_ce = ce.x
    if _is_convex_in_logits(L):
        theta = minimize(lambda t: _ce_risk_and_gradient(cls, px, q, t)[:2], theta_ce, jac=True, method="BFGS",
                         options=_CE_REFINE_OPTIONS).x
        if np.abs(theta).max() > B:  # BFGS is unconstrained: keep the box's point
            theta = theta_ce
        value_error, radius, certain = _certify_ce(cls, px, q, theta)
        return _record(L, cls, problem, theta, lower, certified=np.isfinite(value_error), value_error=value_error,
                       radius=radius, certain=certain, method="convex: L-BFGS-B, exact gradient, certified ball"
                       if np.isfinite(value_error) else "convex: L-BFGS-B, not certified", starts=1, hits=1)

    rng = start_stream(seed, K, cls)
    pool = [np.zeros(n), *(np.clip(f * theta_ce, -B, B) for f in (1.0, 4.0, 16.0)),
            cls.project(np.log(np.clip(tabular.p, START_LOG_FLOOR, None))), *(np.clip(s, -B, B) for s in starts)]
    pool += [np.clip(rng.normal(scale=s, size=n), -B, B) for s in (0.5, 2.0, 8.0) for _ in range(n_random // 3 or 1)]
    T, f = _descend(L, cls, px, q, np.array(pool))
    best = int(np.argmin(f))
    T2, f2 = _descend(L, cls, px, q, T[best][None], maxiter=1000)
    theta = T2[0] if f2[0] <= f[best] else T[best]
    value = min(float(f2[0]), float(f[best]))
    hits = int(np.sum(f <= value + SAME_VALUE_REL * (1 + abs(value))))
    return _record(L, cls, problem, theta, lower, certified=False, value_error=np.inf, radius=np.inf,
                   certain=np.zeros(cls.n_x, bool), method=f"multi-start L-BFGS-B in the box ({len(pool)} starts), "
                   "not certified", starts=len(pool), hits=hits)


def _record(L: Loss, cls: LinearClass, problem: FiniteProblem, theta, lower, *, certified, value_error, radius,
            certain, method, starts, hits) -> ClassMinimum:
    Z = cls.logits(theta, problem.K)
    V = L.vectors(Z, logits=True)
    value = float(problem.px @ risk_of_vectors(V, problem.posterior))
    return ClassMinimum(theta=np.asarray(theta, dtype=np.float64), logits=Z, losses=V, value=value,
                        certified=bool(certified), value_error=float(value_error), radius=float(radius),
                        argmax_certain=np.asarray(certain, bool), tabular_gap=value - lower, method=method,
                        starts=starts, hits=hits)


# ----------------------------------------------------------------------------------------------
# Excess risks within the class


@dataclass(frozen=True)
class ClassExcessRow:
    """R(f̂_η) − R(f̂) for the minimisers within a :class:`LinearClass` under symmetric noise η.

    ``excess`` / ``zero_one_excess``: clean L-risk and 0-1 risk (first-index argmax) lost by
    minimising the noisy risk within the class; ``argmax_changes``: the x whose prediction moved,
    ``certain_changes`` those where both minimisers' argmaxes are certified (CE only);
    ``tabular_excess`` / ``tabular_zero_one_excess``: the same for the tabular class on the same
    problem, for contrast; ``range_bound``: Theorem B with [C₁, C₂] (None without a range);
    ``instance_bound``: η(S(f̂) − S(f̂_η))/((K−1) − Kη), the inequality the theorem rests on.
    ``noisy_risk_of_clean``: R^η(f̂), to hold against ``noisy.value`` = R^η(f̂_η) (the minimality
    the theorem rests on). ``tabular_clean_error``: a bound on how far the tabular clean minimiser's
    risk lies above the tabular minimum (E_x of its stated value errors; +inf when one is not stated),
    so that ``tabular_excess`` ≥ −tabular_clean_error up to rounding. ``clean`` / ``noisy``: the two :class:`ClassMinimum` (not serialised by
    :meth:`to_dict`).
    """

    loss: str
    K: int
    n_x: int
    d: int
    bound: float
    seed: int
    eta: float
    excess: float
    zero_one_excess: float
    argmax_changes: int
    certain_changes: int
    tabular_excess: float
    tabular_zero_one_excess: float
    s_clean: float
    s_noisy: float
    c1: float
    c2: float
    instance_bound: float
    range_bound: float | None
    certified: bool
    minimiser_gap: float
    noisy_risk_of_clean: float
    tabular_clean_error: float
    clean: ClassMinimum = field(repr=False, compare=False)
    noisy: ClassMinimum = field(repr=False, compare=False)

    def slack(self) -> float:
        """What the noisy minimiser's stated error allows the excess above the bound:
        value_error/(1 − ηK/(K−1)) (+inf when not certified)."""
        return self.minimiser_gap / (1 - self.eta * self.K / (self.K - 1))

    def to_dict(self) -> dict:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f not in ("clean", "noisy")}
        for name in ("clean", "noisy"):
            m = getattr(self, name)
            out[name] = {"theta": m.theta.tolist(), "value": m.value, "certified": m.certified,
                         "value_error": m.value_error, "radius": m.radius, "tabular_gap": m.tabular_gap,
                         "method": m.method, "prediction": m.prediction.tolist()}
        return out


def linear_problem(K: int, n_x: int, d: int, seed: int, *, concentration: float = 1.0,
                   bound: float = BOUND) -> tuple[FiniteProblem, LinearClass]:
    """A random finite problem (:func:`theory.finite.random_problem`) with features uniform in
    [−1, 1]^d, both drawn from ``seed``: the problems of the linear-class claims and figures."""
    from theory.finite import random_problem

    rng = np.random.default_rng([check_seed(seed), K, n_x, d])
    problem = random_problem(K, n_x, seed=rng, concentration=concentration)
    return problem, LinearClass(random_features(n_x, d, seed=rng), bound)


def class_excess(L: Loss, problem: FiniteProblem, cls: LinearClass, eta: float, *, seed: int = 0,
                 c1: float | None = None, c2: float | None = None, rounds: int = 3) -> ClassExcessRow:
    """One :class:`ClassExcessRow`: the clean and the noisy minimiser within ``cls``.

    For a loss without a certificate each search starts, besides its own starts, from the other
    problem's minimiser, and the two alternate (at most ``rounds`` times) until neither improves,
    so each found point is at least as good on its own risk as its twin is."""
    from theory.excess import symmetric_noise_bound, zero_one_risk
    from theory.noise import symmetric

    K = problem.K
    noisy_problem = problem.noisy(symmetric(K, eta))
    tab_clean = minimise_conditional_risk(L, problem.posterior, seed=seed)
    tab_noisy = minimise_conditional_risk(L, noisy_problem.posterior, seed=seed)
    clean = minimise_in_class(L, problem, cls, seed=seed, tabular=tab_clean)
    noisy = minimise_in_class(L, noisy_problem, cls, seed=seed, tabular=tab_noisy, starts=(clean.theta,))
    for _ in range(rounds if not clean.certified else 0):
        again = minimise_in_class(L, problem, cls, seed=seed, tabular=tab_clean, starts=(clean.theta, noisy.theta))
        if not again.value < clean.value - _IMPROVEMENT_REL * (1 + abs(clean.value)):
            break
        clean = again
        better = minimise_in_class(L, noisy_problem, cls, seed=seed, tabular=tab_noisy,
                                   starts=(noisy.theta, clean.theta))
        noisy = better if better.value < noisy.value else noisy
    px, q = problem.px, problem.posterior
    risk = lambda V: float(px @ risk_of_vectors(V, q))  # noqa: E731
    zero_one = lambda P: float(px @ zero_one_risk(P, q))  # noqa: E731
    changed = clean.prediction != noisy.prediction
    s_clean, s_noisy = float(px @ clean.losses.sum(-1)), float(px @ noisy.losses.sum(-1))
    ratio = eta / ((K - 1) - K * eta)
    bound = None if c1 is None or c2 is None else symmetric_noise_bound(eta, K, c1, c2)
    return ClassExcessRow(
        loss=L.name, K=K, n_x=cls.n_x, d=cls.d, bound=cls.bound, seed=seed, eta=float(eta),
        excess=risk(noisy.losses) - clean.value, zero_one_excess=zero_one(noisy.probs) - zero_one(clean.probs),
        argmax_changes=int(changed.sum()),
        certain_changes=int((changed & clean.argmax_certain & noisy.argmax_certain).sum()),
        tabular_excess=risk(tab_noisy.losses) - risk(tab_clean.losses),
        tabular_zero_one_excess=zero_one(tab_noisy.p) - zero_one(tab_clean.p),
        s_clean=s_clean, s_noisy=s_noisy, c1=np.nan if c1 is None else float(c1),
        c2=np.nan if c2 is None else float(c2),
        instance_bound=ratio * (s_clean - s_noisy), range_bound=bound,
        certified=clean.certified and noisy.certified, minimiser_gap=noisy.value_error,
        noisy_risk_of_clean=float(px @ risk_of_vectors(clean.losses, noisy_problem.posterior)),
        tabular_clean_error=(float(px @ tab_clean.value_error) if tab_clean.value_error is not None else float("inf")),
        clean=clean, noisy=noisy)
