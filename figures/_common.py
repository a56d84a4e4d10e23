"""What every figure script shares: the build context, the registry entry type, saving.

A figure script defines ``FIGURE = Figure(name, title, build, ...)``; ``build(ctx)`` computes from
:mod:`theory`, from claim results of :mod:`proofs_check` (``ctx.claim(id)``, run once and shared)
or from a results folder (``ctx.require_results(command)``), saves through ``ctx.save`` and
returns an :class:`Output` whose ``data`` holds the plotted numbers, so tests assert on values
and not on pixels. Matplotlib uses the Agg backend: builds are headless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from theory.verify import write_json  # noqa: E402
from theory.verify.io import write_atomic, write_text  # noqa: E402

__all__ = ["Context", "Figure", "MissingInput", "Output", "plt"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"

plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "font.size": 9, "axes.titlesize": 10,
                     "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "legend.frameon": False})


class MissingInput(Exception):
    """A figure's input is absent; ``command`` produces it."""

    def __init__(self, what: str, command: str):
        super().__init__(f"{what}; produce it with: {command}")
        self.what, self.command = what, command


@dataclass
class Output:
    """Files a figure wrote and the numbers it plotted."""

    paths: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A registry entry: ``build(ctx) -> Output``; ``claims`` lists the proofs_check ids it reads;
    ``from_results`` marks figures built from a results folder of :mod:`empirical`."""

    name: str
    title: str
    build: Callable[[Context], Output]
    claims: tuple[str, ...] = ()
    from_results: bool = False


@dataclass
class Context:
    """Output folder, optional results and shared-data folders, and the claim-result cache."""

    out: Path
    results: Path | None = None
    shared: Path | None = None
    jobs: int = 1
    claims: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # computed inputs several figures share
    results_used: bool = False  # something was read from the results folder

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.shared is None and DEFAULT_SHARED.is_dir():
            self.shared = DEFAULT_SHARED

    def prefetch(self, ids) -> None:
        """Run the claims ``ids`` not yet cached (in ``jobs`` processes)."""
        from proofs_check.report import run_all
        from theory.verify import Status

        missing = [i for i in dict.fromkeys(ids) if i not in self.claims]

        def done(r, n, total):
            verdict = "ERROR" if r.status is Status.ERROR else r.verdict.value
            print(f"  claim {n}/{total} {r.check}: {verdict} ({r.seconds:.1f}s)", flush=True)

        for r in run_all(missing, jobs=self.jobs, on_done=done, progress=False) if missing else []:
            self.claims[r.check] = r  # an errored claim too: the report shows it as an error row

    def claim(self, claim_id: str):
        """The claim's :class:`~theory.verify.Result`; RuntimeError when its check raised."""
        from theory.verify import Status

        self.prefetch([claim_id])
        result = self.claims[claim_id]
        if result.status is Status.ERROR:
            raise RuntimeError(f"claim {claim_id} failed to run, so its figure cannot be built:\n{result.reason}")
        return result

    def require_results(self, command: str) -> list:
        """The complete run results of the results folder, or :class:`MissingInput` naming ``command``."""
        from empirical.run import NoUsableResults, usable_results

        if self.results is None or not Path(self.results).is_dir():
            raise MissingInput("no results folder (pass --results DIR)", command)
        if "run_results" not in self.cache:  # read once: each figure from results asks, and a damaged file warns
            try:
                self.cache["run_results"] = usable_results(self.results)
            except NoUsableResults as err:
                self.cache["run_results"] = err
        found = self.cache["run_results"]
        if isinstance(found, NoUsableResults):
            raise MissingInput(str(found), command)
        self.results_used = True
        return found

    def save(self, fig, name: str) -> Path:
        try:
            return write_atomic(self.out / f"{name}.png", lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))
        finally:
            plt.close(fig)

    def write_text(self, name: str, text: str) -> Path:
        return write_text(self.out / name, text)

    def write_json(self, name: str, payload: Any) -> Path:
        return write_json(self.out / name, payload)
