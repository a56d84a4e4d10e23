"""The statements the claims report refers to, stated in the report itself.

The paper's full theorem texts are not public in a form this package can quote; its claims are
verified in precise, testable forms reconstructed from its abstract and its reference code, and each
claim's ``origin`` says whether it is such a reconstruction ("paper claim, reconstructed form") or a
property derived here ("derived property"). The preamble below states every named result a claim's
statement, verdict or evidence cites, so that the report is read without any other document.
"""

from __future__ import annotations

__all__ = ["PREAMBLE"]

PREAMBLE = """\
**The paper.** J. Wang, X. Zhou, D. Zhai, J. Jiang, X. Ji, X. Liu, "ε-Softmax: Approximating One-Hot Vectors
for Mitigating Label Noise", NeurIPS 2024 (arXiv 2508.02387). Its theorems are verified in the forms
stated here (reconstructed from its abstract and reference code); each claim says whether it is such a
reconstruction or a property derived by this package.

**Setting.** Labels {0, …, K−1}; p = softmax(z) on the simplex Δ_{K−1}; t = argmax p (first index on
ties). Clean risk R(f) = E L(f(x), y); under label noise with row-stochastic T (T_yk = P(ỹ = k | y))
the noisy risk R^η(f) = E L(f(x), ỹ); f* and f*_η minimise them. Symmetric noise: T_yy = 1 − η,
T_yk = η/(K−1). The *excess* of noisy training is R(f*_η) − R(f*) ≥ 0; L is *noise-tolerant*
(Ghosh, Kumar, Sastry, AAAI 2017) when f*_η also minimises the clean risk. Unless a claim names
another class, predictors are *tabular* (one free prediction per x of a finite X), where the
minimisers decompose into minimisers of the conditional risk C_q(p) = Σ_k q_k L(p, k).

**ε-softmax.** p_ε = (p + m·e_t)/(1 + m), m ≥ 0; ε-losses evaluate L at max(p_ε, c) with the clamp
c = 1e-8. CE_ε(p, y) = −log max(p_ε(y), c); CE_ε+MAE = α·CE_ε + β·MAE, MAE(p, y) = 2(1 − p_y).

**Lemma A (bounded sum).** For L(p, y) = ℓ(p_y) with ℓ λ-Lipschitz on [0, 1] and
C₀ = ℓ(1) + (K−1)ℓ(0): |Σ_k ℓ(p_ε(k)) − C₀| ≤ 2λ(1 − p_t)/(1+m) ≤ 2λ(K−1)/(K(1+m)).
**CE_ε band** (clamp c): (K−1)·min(log(1+m) + log(K/(K−1)), −log c) ≤ Σ_k CE_ε(p, k)
≤ −log((1/K + m)/(1+m)) + (K−1)(−log c).

**Risk identity** (symmetric noise, any loss): R^η(f) = (1 − ηK/(K−1)) R(f) + (η/(K−1)) E_x Σ_k L(f(x), k).

**Theorem B** (symmetric noise, η < (K−1)/K). If C₁ ≤ Σ_k L(p, k) ≤ C₂ on the simplex, then
R(f*_η) − R(f*) ≤ η(C₂ − C₁)/((K−1) − Kη), over any class of predictors. With Lemma A, for an ε-loss
with λ-Lipschitz ℓ: R(f*_η) − R(f*) ≤ 4λη(K−1)/(K(1+m)((K−1) − Kη)) = O(1/(1+m)).

**Class-conditional noise** (Ghosh et al., Theorem 3). A symmetric loss (Σ_k L constant) is
noise-tolerant when R(f*) = 0 and 1 − η_y > η_yk for every k ≠ y. **The paper's asymmetric claim**
(reconstructed): as m → ∞, L(p_ε, y) → ℓ(1) + (ℓ(0) − ℓ(1))·1[y ≠ argmax p], an affine map of the
0-1 loss, so under those conditions the noisy minimiser predicts the clean label, with an excess that
shrinks like O(1/(1+m)).

**Consistency** (Zhu, Ying, Yang, ICML 2023). For q = P(· | x) with distinct entries, L is *top-k
consistent* when every minimiser p* of C_q has the same top-k set as q (a tie at the boundary of the
set fails), and *All-k consistent* when it is top-k consistent for every k. CE (p* = q) is All-k
consistent; MAE (p* = e_{argmax q}) is top-1 only. The *own-prediction* notion asks only that the
argmax region of the Bayes class be strictly best.
"""
