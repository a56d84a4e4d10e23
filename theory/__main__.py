"""``python -m theory``: the noise-tolerance table of every registered loss on a finite problem.

For each loss: the global minimisers of the clean and the noisy conditional risks on a random
finite problem with symmetric label noise, the excess clean risk R(f*_η) − R(f*) of training on
noisy labels, whether f*_η predicts like f* everywhere, and how the minimiser was certified.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from theory import finite, losses, noise
from theory.cli import add_common_flags, check_output_file, guarded, plain
from theory.losses import Input
from theory.verify.io import write_json

# The paper's headline losses, their plain counterparts and one normalised loss; 'all' runs
# every registered loss of probabilities.
DEFAULT_LOSSES = ("ce", "mae", "gce", "rce", "nce+rce", "ce+mae", "ce_eps", "ce_eps+mae", "fl_eps+mae")


def _evidence(minimum) -> str:
    gap = float(np.max(minimum.value_error))
    return " (not certified)" if not np.isfinite(gap) else f" (value within {gap:.1e} of the minimum)"


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the README's examples are parsed with it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m theory", description=plain(__doc__.splitlines()[0]))
    parser.add_argument("-K", type=int, default=4, help="number of classes (default 4)")
    parser.add_argument("--n-x", type=int, default=8, help="points in the finite X (default 8)")
    parser.add_argument("--rate", type=float, default=0.4, help="symmetric noise rate η (default 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="problem seed (default 0)")
    parser.add_argument("--losses", default=",".join(DEFAULT_LOSSES),
                        help="comma-separated loss names, or 'all' (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return guarded(parser.prog, lambda: _run(args), debug=args.debug)


def _run(args) -> int:
    if args.n_x < 1:
        raise ValueError(f"--n-x must be a number of points >= 1, got {args.n_x}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    T = noise.symmetric(args.K, args.rate)  # checks K and the rate
    names = ([n for n in losses.names() if losses.get(n).input is Input.PROBS] if args.losses == "all"
             else [n.strip() for n in args.losses.split(",") if n.strip()])
    if not names:
        raise ValueError(f"--losses names no loss, got {args.losses!r}")
    chosen = [losses.get(name) for name in names]  # unknown names fail here, before any work
    logits = [name for name, L in zip(names, chosen) if L.input is not Input.PROBS]
    if logits:
        raise ValueError(f"--losses takes losses of probabilities (the table minimises over the simplex); "
                         f"{', '.join(logits)} {'takes' if len(logits) == 1 else 'take'} logits")
    if args.json:
        check_output_file(args.json)
    prob = finite.random_problem(K=args.K, n_x=args.n_x, seed=args.seed)
    noisy = prob.noisy(T)
    rows = []
    print(f"Finite problem: K={args.K}, |X|={args.n_x}, seed={args.seed}; symmetric noise η={args.rate}"
          f" (tolerance needs η < {(args.K - 1) / args.K:.3f})")
    print(f"{'loss':12s} {'R(f*)':>10s} {'R(f*_η)-R(f*)':>14s} {'same argmax':>11s} {'time s':>7s}  minimiser")
    for name, L in zip(names, chosen):
        t0 = time.perf_counter()
        clean, dirty = prob.minimiser(L), noisy.minimiser(L)
        excess = prob.risk(L, dirty) - prob.risk(L, clean)
        same = bool(np.all(np.argmax(clean.p, 1) == np.argmax(dirty.p, 1)))
        dt = time.perf_counter() - t0
        gap = float(np.max(clean.value_error))
        rows.append({"loss": name, "bayes_risk": float(prob.px @ clean.value), "excess_risk": excess,
                     "same_argmax": same, "method": clean.method, "exact": clean.exact,
                     "value_error": gap if np.isfinite(gap) else None, "seconds": dt})
        print(f"{name:12s} {rows[-1]['bayes_risk']:10.4f} {excess:14.3e} {str(same):>11s} {dt:7.2f}  "
              f"{clean.method.value}{_evidence(clean)}")
    if args.json:
        write_json(args.json, {"K": args.K, "n_x": args.n_x, "rate": args.rate, "seed": args.seed, "rows": rows})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
