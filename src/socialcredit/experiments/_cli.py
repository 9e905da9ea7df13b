"""The experiment commands of the command line (`sweep`; later `sensitivity`,
`calibrate`), registered on the main app by socialcredit.cli."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where runs execute: local (worker processes on this machine),"
                       " ray (a Ray cluster; see --address) or inline (this process, one"
                       " run at a time).")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", help="The Ray cluster to use with --executor ray (ray://HOST:10001, or"
                      " auto for the cluster this machine belongs to); default: a local"
                      " Ray instance.")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", "-w", help="Runs at once (default: the cores, or the cluster's CPUs).")]


class RunsBar:
    """A Rich progress bar over runs, with runs per second and the time left."""

    def __init__(self, label: str, quiet: bool) -> None:
        from socialcredit.cli import err

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("runs"),
                            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=err,
                            disable=quiet or not err.is_terminal)
        self.label = label
        self.task: int | None = None
        self.t0 = time.perf_counter()
        self.first: int | None = None

    def __enter__(self) -> RunsBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task(self.label, total=total, rate="")
            self.first = done  # resumed runs do not count towards the rate
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        ran = done - (self.first or 0)
        self.bar.update(self.task, completed=done,
                        rate=f"{ran / elapsed:,.2f} runs/s" if ran else "")


class interrupted:
    """Ctrl-C: one line saying what is kept and how to continue, exit status 130, no
    traceback. Finished runs are whole on disk (parts/), so `--resume` goes on."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: type | None, exc: object, tb: object) -> bool:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            from socialcredit.cli import err

            done = len(list((self.out_dir / "parts").glob("*.run.json")))
            err.print(f"interrupted: {done} finished run(s) are kept in {self.out_dir};"
                      " run the same command with --resume to go on", markup=False)
            raise typer.Exit(130)
        return False


def register(app: typer.Typer) -> None:
    from socialcredit.cli import _fail, _warm_up, out
    from socialcredit.errors import SocialCreditError

    @app.command()
    def sweep(
        experiment: Annotated[Path, typer.Argument(metavar="EXPERIMENT.toml",
                                                   help="The experiment file.")],
        out_dir: Annotated[Path, typer.Option("--out", "-o", help="The directory to"
                                              " write.")] = Path("runs/sweep"),
        executor: ExecutorOpt = "local",
        address: AddressOpt = None,
        workers: WorkersOpt = None,
        resume: Annotated[bool, typer.Option(
            "--resume", help="Continue an interrupted sweep in --out: runs already"
                             " finished (recognised by content hash) are kept.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")
                         ] = False,
    ) -> None:
        """Run every point of an experiment with every seed: runs.parquet (one row per
        run), daily.parquet (every run's days) and report.html in --out."""
        from socialcredit.experiments._spec import load_experiment
        from socialcredit.experiments._sweep import sweep as run_sweep

        try:
            exp = load_experiment(experiment)
            _warm_up(quiet)
            t0 = time.perf_counter()
            with interrupted(out_dir), RunsBar(exp.name, quiet) as bar:
                df = run_sweep(exp, out_dir, executor=executor, workers=workers,
                               address=address, resume=resume, progress=bar)
        except SocialCreditError as exc:
            raise _fail(exc) from None
        took = time.perf_counter() - t0
        reused = f" ({bar.first} already done)" if bar.first else ""
        out.print(f"done {exp.name}: {df.height} runs{reused} in {took:.1f} s",
                  markup=False)
        out.print(f"results in {out_dir}: runs.parquet, daily.parquet, experiment.json,"
                  " report.html", markup=False)
