"""The `sensitivity` and `calibrate` commands, registered on the main app by
socialcredit.cli (`register_fit`). Thin adapters: the work is in _sensitivity.py and
_calibrate.py, whose docstrings describe the files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from socialcredit.experiments._cli import AddressOpt, ExecutorOpt, RunsBar, WorkersOpt

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


class _TrialsBar(RunsBar):
    """The runs bar, its label followed by the best objective so far."""

    def trial(self, number: int, value: float | None, best: float | None) -> None:
        if self.task is not None and best is not None:
            self.bar.update(self.task, description=f"{self.label} (best {best:.4g})")


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

    @app.command()
    def calibrate(
        policy: Annotated[str, typer.Argument(metavar="SCENARIO|FILE",
                                              help="The policy to calibrate.")],
        targets: Annotated[Path, typer.Argument(
            metavar="TARGETS.toml", help="The observations and the parameters to fit.")],
        out_dir: Annotated[Path, typer.Option("--out", "-o", help="The directory to write"
                                              " (new or empty).")] = Path("runs/calibrate"),
        trials: Annotated[int | None, typer.Option(
            "--trials", "-t", help="Optuna trials (default: the file's, else 50).")] = None,
        seeds: Annotated[int | None, typer.Option(
            "--seeds", help="Seeds per trial; the mean is compared (default: the file's,"
                            " else 3).")] = None,
        population: Annotated[int | None, typer.Option(
            "--population", "-n", help="Persons per run (default: the file's, else the"
                                       " policy's).")] = None,
        days: Annotated[int | None, typer.Option(
            "--days", "-d", help="Days per run (default: the file's, else the"
                                 " policy's).")] = None,
        executor: ExecutorOpt = "local",
        address: AddressOpt = None,
        workers: WorkersOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Fit a policy's parameters to observed figures with Optuna: calibrated.toml,
        trials.parquet, fit.parquet and report.html in --out. Held-out targets are never
        fitted; their prediction error is reported."""
        from socialcredit.experiments._calibrate import calibrate as run
        from socialcredit.experiments._calibrate import load_calibration

        try:
            cal = load_calibration(policy, targets, trials=trials, seeds=seeds,
                                   population=population, days=days)
            _warm_up(quiet)
            t0 = time.perf_counter()
            with _TrialsBar(cal.name, quiet) as bar:
                res = run(None, cal, out_dir, executor=executor, workers=workers,
                          address=address, progress=bar, on_trial=bar.trial)
        except SocialCreditError as exc:
            raise _fail(exc) from None
        took = time.perf_counter() - t0
        out.print(f"done {cal.name}: {cal.trials} trials x {len(cal.seeds)} seeds in"
                  f" {took:.1f} s; best objective {res.objective:.4g}", markup=False)
        for name, value in res.best.items():
            out.print(f"  {name} = {value:.6g}" if isinstance(value, float)
                      else f"  {name} = {value!r}", markup=False)
        held = res.holdout
        if held.height:
            rel = held["relative_error"].abs().mean()
            inside = int(held["within_tolerance"].fill_null(False).sum())
            out.print(f"held out: {held.height} row(s), {inside} within tolerance"
                      + (f", mean absolute relative error {100 * rel:.1f} %"
                         if rel is not None else ""), markup=False)
        out.print(f"results in {out_dir}: calibrated.toml, trials.parquet, fit.parquet,"
                  " calibration.json, report.html", markup=False)
