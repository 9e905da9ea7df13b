"""The `sensitivity` command, registered on the main app by socialcredit.cli
(`register_fit`). A thin adapter: the work is in _sensitivity.py, whose docstring
describes the files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from socialcredit.experiments._cli import AddressOpt, ExecutorOpt, RunsBar, WorkersOpt

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def register_fit(app: typer.Typer) -> None:
    from socialcredit.cli import _fail, _warm_up, out
    from socialcredit.errors import SocialCreditError

    @app.command()
    def sensitivity(
        experiment: Annotated[Path, typer.Argument(
            metavar="EXPERIMENT.toml", help="An experiment file whose parameters are all"
                                            " ranges, with a [sensitivity] table.")],
        out_dir: Annotated[Path, typer.Option("--out", "-o", help="The directory to"
                                              " write.")] = Path("runs/sensitivity"),
        method: Annotated[str | None, typer.Option(
            "--method", "-m", help="morris (screening) or sobol (first and total order"
                                   " indices); default: the file's, else morris.")] = None,
        samples: Annotated[int | None, typer.Option(
            "--samples", help="Morris trajectories, or Sobol base samples (a power of 2);"
                              " default: the file's, else 10 or 64.")] = None,
        executor: ExecutorOpt = "local",
        address: AddressOpt = None,
        workers: WorkersOpt = None,
        resume: Annotated[bool, typer.Option(
            "--resume", help="Continue in --out: finished runs are kept.")] = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Morris screening or Sobol indices (SALib) of an experiment's outputs:
        indices.parquet, indices.json and sensitivity.html in --out, beside the runs."""
        from socialcredit.experiments._sensitivity import load_sensitivity
        from socialcredit.experiments._sensitivity import sensitivity as run

        try:
            plan = load_sensitivity(experiment, method=method, samples=samples)
            _warm_up(quiet)
            t0 = time.perf_counter()
            with RunsBar(f"{plan.exp.name} ({plan.method})", quiet) as bar:
                indices = run(plan, out_dir, executor=executor, workers=workers,
                              address=address, resume=resume, progress=bar)
        except SocialCreditError as exc:
            raise _fail(exc) from None
        took = time.perf_counter() - t0
        runs = len(plan.points) * len(plan.exp.seeds)
        out.print(f"done {plan.exp.name}: {plan.method}, {len(plan.points)} points,"
                  f" {runs} runs in {took:.1f} s", markup=False)
        key = "ST" if plan.method == "sobol" else "mu_star"
        for output in plan.outputs:
            rows = indices.filter(indices["output"] == output).sort(
                key, descending=True, nulls_last=True)
            top = ", ".join(f"{r['parameter']} {r[key]:.3g}" for r in rows.head(3).iter_rows(
                named=True) if r[key] is not None)
            out.print(f"  {output}: largest {key}: {top}", markup=False)
        out.print(f"results in {out_dir}: indices.parquet, indices.json, sensitivity.html,"
                  " runs.parquet, report.html", markup=False)
