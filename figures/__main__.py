"""``python -m figures [NAME ...] [--out DIR] [--results DIR]``: see :mod:`figures`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from figures import FIGURES, Context, MissingInput, get
from theory.cli import add_common_flags, check_output_folder, guarded, plain


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the README's examples are parsed with it in the tests)."""
    parser = argparse.ArgumentParser(prog="python -m figures", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="figures to build (default: all, plus the claims report)")
    parser.add_argument("--out", default="outputs/figures", help="output folder (default: outputs/figures)")
    parser.add_argument("--results", help="empirical results folder (default: results/ when it exists)")
    parser.add_argument("--shared", help="shared data folder (default: ../shared/data when it exists)")
    parser.add_argument("--jobs", type=int, default=None, help="processes for the claims (default: min(2, CPUs))")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("--results-only", action="store_true",
                        help="only the figures built from a results folder (no claims are run)")
    add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return guarded(parser.prog, lambda: _run(parser, args), debug=args.debug)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.list:
        for f in FIGURES.values():
            print(f"{f.name:22s} {'[results] ' if f.from_results else ''}{f.title}")
        return 0
    if args.results_only and args.names:
        raise ValueError(f"--results-only builds the figures from results; name figures or pass it, not both "
                         f"(got {', '.join(args.names)})")
    try:
        chosen = ([f for f in FIGURES.values() if f.from_results] if args.results_only
                  else [get(n) for n in args.names] if args.names else list(FIGURES.values()))
    except KeyError as err:
        parser.error(str(err.args[0]))
    from theory.verify.parallel import default_jobs

    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    for option, folder in (("--results", args.results), ("--shared", args.shared)):
        if folder is not None and not Path(folder).is_dir():
            seen = "a file" if Path(folder).exists() else "nothing"
            raise NotADirectoryError(f"{option} must be an existing folder, got {folder!r} ({seen} there)")
    check_output_folder(args.out, "--out")
    if args.results is not None and chosen and all(f.from_results for f in chosen):
        from empirical.run import NoUsableResults, usable_results

        try:  # only run results are wanted: none usable is an error before anything is written
            usable_results(args.results)
        except NoUsableResults as err:
            raise NoUsableInput(f"--results {args.results}: no figure could use it ({err})") from None
    results = args.results or ("results" if Path("results").is_dir() else None)
    ctx = Context(Path(args.out), results=Path(results) if results else None,
                  shared=Path(args.shared) if args.shared else None, jobs=args.jobs or default_jobs())
    start = time.perf_counter()
    ok = True
    if args.results_only and ctx.results is None:
        raise FileNotFoundError("--results-only needs a results folder: pass --results DIR (or run where results/ is)")
    if not args.names and not args.results_only:
        ok = _claims_report(ctx)
    else:
        ctx.prefetch([c for f in chosen for c in f.claims])
    built, skipped = [], []
    for fig in chosen:
        t0 = time.perf_counter()
        try:
            out = fig.build(ctx)
        except MissingInput as err:
            skipped.append((fig.name, err))
            print(f"skipped {fig.name}: {err.what}\n    produce its input with: {err.command}", flush=True)
            continue
        except RuntimeError as err:  # a claim it reads failed to run
            ok = False
            print(f"FAILED {fig.name}: {err}", file=sys.stderr, flush=True)
            continue
        built += out.paths
        print(f"built {fig.name} ({time.perf_counter() - t0:.1f}s): " + ", ".join(p.name for p in out.paths), flush=True)
    print(f"\n{len(built)} files in {ctx.out.resolve()} ({time.perf_counter() - start:.0f}s); "
          f"{len(skipped)} figure(s) skipped for missing inputs")
    readers = [f.name for f in chosen if f.from_results]
    if args.results is not None and readers and not ctx.results_used:
        # a results folder was given, and no figure that reads one could use anything in it
        why = dict(skipped)[readers[0]].what if readers[0] in dict(skipped) else "nothing was read from it"
        raise NoUsableInput(f"--results {args.results}: no figure could use it ({why})")
    return 0 if ok else 1


class NoUsableInput(ValueError):
    """The input the command was given yields nothing usable (exit status 2, one line)."""


def _claims_report(ctx: Context) -> bool:
    """Run every claim (shared with the figures), write claims.md / claims.json, print the table."""
    from proofs_check import claims
    from proofs_check.report import as_expected, render, render_markdown

    t0 = time.perf_counter()
    ctx.prefetch(claims.ids())
    results = [ctx.claims[i] for i in claims.ids()]
    table = render(results)
    ctx.write_text("claims.md", render_markdown(results))
    ctx.write_json("claims.json", {"results": [r.to_dict() for r in results]})
    print(table)
    ok = as_expected(results)
    print(f"claims: {'every verdict as expected' if ok else 'UNEXPECTED VERDICTS'} "
          f"({time.perf_counter() - t0:.0f}s); report in {ctx.out.resolve() / 'claims.md'}\n", flush=True)
    return ok


if __name__ == "__main__":
    sys.exit(main())
