"""``python -m proofs_check``: verify the paper's claims and print the report.

Exit status 0 when every claim reached exactly the verdict its registry entry expects (claims
known to be refuted are findings, reported prominently, and expected), 1 otherwise or when a
check errs, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from proofs_check import claims, findings
from proofs_check.report import as_expected, default_jobs, render, render_markdown, run_all
from theory.cli import add_common_flags, check_output_file, guarded, plain
from theory.verify import Status, write_json
from theory.verify.io import write_text


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the README's examples are parsed with it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m proofs_check", description=plain(__doc__.splitlines()[0]))
    parser.add_argument("--claim", action="append", metavar="ID",
                        help="run only this claim (an id or a unique prefix; repeatable)")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", type=Path,
                        help="also write the report as Markdown (every statement, verdict and evidence in full)")
    parser.add_argument("--thorough", action="store_true", help="a larger search budget (no time limit)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every numeric search (default 0)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes (default: min(2, CPUs))")
    parser.add_argument("--findings", metavar="PATH", type=Path,
                        help="rewrite the marked findings of a Markdown file (such as README.md) from the claims they "
                             "read, running only those claims")
    parser.add_argument("--list", action="store_true", help="list the claim ids and exit")
    add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return guarded(parser.prog, lambda: _run(parser, args), debug=args.debug)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.list:
        for c in claims.all_claims():
            print(f"{c.id:36s} {c.title}")
        return 0
    if args.seed < 0 or args.jobs < 1:
        parser.error(f"--seed must be >= 0 and --jobs >= 1, got seed={args.seed}, jobs={args.jobs}")
    if args.findings is not None:
        return _findings(args)
    try:
        ids = [claims.get(i).id for i in args.claim] if args.claim else claims.ids()
    except KeyError as err:
        parser.error(str(err.args[0]))
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path:
            check_output_file(path, option)
    budget = "thorough" if args.thorough else "default"
    start = time.perf_counter()

    def on_done(r, done, total):
        verdict = "ERROR" if r.status is Status.ERROR else r.verdict.value
        print(f"[{done}/{total}] {r.check}: {verdict} ({r.seconds:.1f}s, {time.perf_counter() - start:.0f}s elapsed)",
              file=sys.stderr, flush=True)

    results = run_all(ids, budget=budget, seed=args.seed, jobs=args.jobs, on_done=on_done)
    print(render(results))
    wall = time.perf_counter() - start
    print(f"wall time {wall:.1f}s ({budget} budget, seed {args.seed}, {args.jobs} job(s))")
    if args.json:
        payload = {"budget": budget, "seed": args.seed, "wall_seconds": wall,
                   "results": [r.to_dict() for r in results]}
        write_json(args.json, payload)
        print(f"results written to {args.json}")
    if args.markdown:
        write_text(args.markdown, render_markdown(results))
        print(f"report written to {args.markdown}")
    return 0 if as_expected(results) else 1


def _findings(args: argparse.Namespace) -> int:
    """Rewrite the marked findings of ``args.findings`` from a fresh run of the claims they read."""
    text = args.findings.read_text()  # OSError: exit 2 with the path
    wanted = sorted({findings.FINDINGS[i][0] for i in findings.marked(text)})
    if not wanted:
        raise ValueError(f"{args.findings} has no marked finding of the claims (<!-- finding: ID --> … <!-- /finding -->)")
    results = run_all(wanted, budget="thorough" if args.thorough else "default", seed=args.seed, jobs=args.jobs)
    changed = findings.rewrite(args.findings, {r.check: r for r in results})
    print(f"{len(findings.marked(text))} finding(s) from {len(wanted)} claim(s); "
          + (f"rewritten: {', '.join(changed)}" if changed else "all as computed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
