"""Claim 6: logit gradients of CE_ε, MAE and CE_ε+MAE in the regimes y = t, y ≠ t and the clamp.

Symbolic: p = softmax(z) with symbolic logits, symbolic m, α, β, through the implementation's
own ε-softmax and loss formulas, for K = 2..4 and every (t, y). Numeric: central differences of
the float implementation (and torch autograd of the training criterion when torch is
installed) against the formulas at K = 10 and 100, including points where the clamp is active.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_check.claims._common import M, eps_exprs, k_text, sci
from proofs_check.claims._registry import claim
from proofs_check.claims.softmax import clamp_proof
from theory import losses
from theory.softmax import PAPER_CLAMP
from theory.verify import Budget, Certifier, Evidence, Kind, Origin, Size, Verdict, decide
from theory.verify.runner import Context

ALPHA, BETA = sp.symbols("alpha beta", positive=True)
CLAMP = PAPER_CLAMP  # the reference's clamp, as the paper's losses use it
#: central differences of step FD_STEP must match the formula to FD_REL, torch autograd to AUTOGRAD_REL
#: (relative to 1 + max |∇|): the differences' truncation and rounding at this step are ~1e-10
FD_STEP, FD_REL, AUTOGRAD_REL = 1e-6, 1e-6, 1e-10
#: the numeric comparison: K, and logit vectors per (K, m, regime); the symbolic derivation's K
NUMERIC_KS, POINTS = Size((10, 100), (10, 100, 1000)), Size(8, 64)
SYMBOLIC_KS = Size((2, 3), (2, 3, 4))


def weight(p_y: np.ndarray, same: np.ndarray, clamped: np.ndarray, alpha: float, beta: float, m: float) -> np.ndarray:
    """w in ∇_z(CE_ε+MAE) = w(p − e_y): αp_y/(p_y+m) + 2βp_y (y = t), α + 2βp_y (y ≠ t), 2βp_y (clamped)."""
    ce = np.where(same, p_y / (p_y + m), np.where(clamped, 0.0, 1.0))
    return alpha * ce + 2 * beta * p_y


def _symbolic(cert: Certifier, Ks) -> None:
    ce, mae = losses.get("ce"), losses.get("mae")
    for K in Ks:
        z = sp.symbols(f"z_0:{K}", real=True)
        e = [sp.exp(v) for v in z]
        p = [v / sum(e) for v in e]
        for t in range(K):
            for y in range(K):
                ce_eps = ce.sympy(K, y=y, symbols=eps_exprs(p, t, M))
                mae_y = mae.sympy(K, y=y, symbols=p)
                total = ALPHA * ce_eps + BETA * mae_y
                w_ce = p[y] / (p[y] + M) if y == t else sp.Integer(1)
                for j in range(K):
                    g = p[j] - (1 if j == y else 0)
                    regime = "y=t" if y == t else "y≠t"
                    cert.equal(f"K={K}, t={t}, y={y}, j={j}: ∂CE_ε/∂z_j ({regime})", sp.diff(ce_eps, z[j]), w_ce * g)
                    cert.equal(f"K={K}, y={y}, j={j}: ∂MAE/∂z_j = 2p_y(p_j − e_yj)", sp.diff(mae_y, z[j]), 2 * p[y] * g)
                    cert.equal(f"K={K}, t={t}, y={y}, j={j}: ∂(αCE_ε+βMAE)/∂z_j = w(p_j − e_yj)",
                               sp.diff(total, z[j]), (ALPHA * w_ce + 2 * BETA * p[y]) * g)


def _points(rng: np.random.Generator, K: int, n: int, m: float, regime: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits (n, K) and labels in a regime: "y=t", "y≠t" (clamp inactive) or "clamp"."""
    z = rng.normal(0, 2, size=(n, K))
    t = z.argmax(1)
    if regime == "y=t":
        return z, t
    y = (t + 1 + rng.integers(0, K - 1, size=n)) % K
    p_target = CLAMP * (1 + m) * (0.05 if regime == "clamp" else 50.0)
    if p_target >= 0.5:
        return z[:0], y[:0]
    # set z_y so that p_y = p_target exactly: z_y = log(p_target/(1−p_target)·Σ_{k≠y} e^{z_k})
    z = z.copy()
    rows = np.arange(n)
    z[rows, y] = -np.inf
    rest = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    z[rows, y] = np.log(p_target / (1 - p_target)) + rest
    return z, y


def _numeric(budget: Budget) -> tuple[Evidence, float]:
    rng = budget.rng("gradients.ce_eps_mae")
    worst = 0.0
    rows = []
    torch_rows = []
    try:
        import torch
    except ImportError:  # theory and proofs_check work without torch
        torch = None
    for K in budget.size(NUMERIC_KS):
        for m in (0.0, 10.0, 1e5):
            for regime in ("y=t", "y≠t", "clamp"):
                z, y = _points(rng, K, budget.size(POINTS), m, regime)
                if not len(z):
                    continue
                alpha, beta = 0.01, 5.0
                L = losses.get("ce_eps+mae", alpha=alpha, beta=beta, m=m, clamp=CLAMP)
                p = np.exp(z - z.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                p_y = p[np.arange(len(y)), y]
                w = weight(p_y, p.argmax(1) == y, regime == "clamp", alpha, beta, m)
                formula = w[:, None] * (p - np.eye(K)[y])
                h = FD_STEP
                fd = np.empty_like(z)
                for j in range(K):
                    dz = np.zeros(K)
                    dz[j] = h
                    fd[:, j] = (L.from_logits(z + dz, y) - L.from_logits(z - dz, y)) / (2 * h)
                err = float(np.max(np.abs(fd - formula)) / (FD_REL * (1 + np.abs(formula).max())))
                worst = max(worst, err)
                rows.append({"K": K, "m": m, "regime": regime, "fd_error_over_tolerance": err})
                if torch is not None:
                    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
                    L.torch_value(zt, torch.as_tensor(y)).sum().backward()
                    terr = float(np.max(np.abs(zt.grad.numpy() - formula)) / (AUTOGRAD_REL * (1 + np.abs(formula).max())))
                    worst = max(worst, terr)
                    torch_rows.append({"K": K, "m": m, "regime": regime, "autograd_error_over_tolerance": terr})
    what = f"central differences (tolerance {sci(FD_REL)})" + (f" and torch autograd ({sci(AUTOGRAD_REL)})" if torch is not None else
                                                     "; torch not installed, autograd not checked")
    Ks = budget.size(NUMERIC_KS)
    return Evidence(Kind.SEARCH, f"{what}: worst error/tolerance {worst:.2g} over K, m ∈ {{0, 10, 1e5}}, every regime",
                    covers=f"{k_text(Ks)}, m ∈ {{0, 10, 1e5}}, regimes y = t, y ≠ t, clamped (numeric)",
                    data={"finite_differences": rows, "autograd": torch_rows}), worst


@claim("gradients.ce_eps_mae", "Gradients of CE_ε, MAE, CE_ε+MAE",
       "y = t: ∇_z CE_ε = (p_y/(p_y+m))(p − e_y); y ≠ t: ∇_z CE_ε = p − e_y; clamp regime: 0. ∇_z MAE = 2p_y(p − e_y). "
       "CE_ε+MAE: w(p − e_y) with w = αp_y/(p_y+m) + 2βp_y (y = t), α + 2βp_y (y ≠ t), 2βp_y (clamped).",
       origin=Origin.DERIVED, methods=("symbolic", "numeric search"), expect=Verdict.NOT_REFUTED)
def check_gradients(ctx: Context):
    budget = ctx.budget
    Ks = budget.size(SYMBOLIC_KS)
    cert = Certifier("p = softmax(z), z real; m ≥ 0, α, β > 0 symbolic; t = argmax p fixed (an index, no gradient); "
                     "no clamp active", scope=f"{k_text(Ks)}, every (t, y), symbolic logits, m, α, β")
    _symbolic(cert, Ks)
    clamp = Certifier("y ≠ t and p_y < (1+m)c", scope="the clamp regime")
    clamp.cite("CE_ε = −log c below the threshold", clamp_proof(), "eps_softmax.clamp")
    clamp.argue("clamp regime", "a constant CE_ε has ∇_z CE_ε = 0, so ∇_z(CE_ε+MAE) = 2βp_y(p − e_y)")
    every = Certifier("the per-coordinate derivatives", scope="every K")
    every.argue("every K", "each partial derivative involves p_j, p_y and p_t only, so the K ≤ 3 computation holds "
                "for every K")
    ev, worst = _numeric(budget)
    witness_note = "" if worst <= 1 else f"numeric gradient differs from the formula by {worst:.3g}× the tolerance"
    out = decide([cert.evidence("gradients of CE_ε, MAE, CE_ε+MAE in both regimes (symbolic m, α, β)"),
                  clamp.evidence("the clamp regime"), every.evidence("every K"), ev], note=witness_note)
    if worst > 1:  # a float gradient mismatch is an implementation bug, not a refutation of algebra
        raise AssertionError(f"gradient check: {witness_note}; see {ev.data}")
    return out
