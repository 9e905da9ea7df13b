"""Write a run directory: summary.json, details.json, metrics.parquet, run.json, the
policy, and the ledger when asked. Files appear whole or not at all."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit import __version__
from socialcredit.engine._metrics import daily_metrics, details, summary
from socialcredit.engine._phases import PHASES
from socialcredit.engine._run import RunResult
from socialcredit.errors import RunOutputError
from socialcredit.policy import policy_toml

FORMAT_VERSION = 1


class RunDir:
    """A run directory, written whole: every file goes into a staging directory beside
    it, which replaces it at the end in two renames. A directory that is not a run
    directory (not empty, and no run.json) is never touched. On any error, Ctrl-C
    included, the staging directory is removed and an earlier run is left as it was.

        run_dir = RunDir(Path("runs/ref"))
        with run_dir as staging:
            ...write files into staging...
            run_dir.commit()
    """

    def __init__(self, out: Path | str) -> None:
        if str(out).strip() == "":
            raise RunOutputError("the run directory (--out) is empty; name a directory")
        self.out = Path(out)
        here = Path.cwd().resolve()
        if self.out.resolve() in (here, *here.parents):
            raise RunOutputError(f"{self.out}: is the current directory or holds it; a run"
                                 " directory is replaced whole: choose one below it")
        if self.out.exists() and not self.out.is_dir():
            raise RunOutputError(f"{self.out}: exists and is not a directory")
        for parent in self.out.absolute().parents:
            if is_run_dir(parent):
                raise RunOutputError(
                    f"{self.out}: is inside the run directory {parent}, which is written"
                    " and replaced whole (a replicate set's seed-<S> directories belong to"
                    " it); choose a directory outside it")
        if self.out.is_dir() and any(self.out.iterdir()) and not is_run_dir(self.out):
            raise RunOutputError(f"{self.out}: not empty and not a run directory (no"
                                 " run.json); choose another --out, nothing was written")
        self.staging: Path | None = None
        self.committed = False

    def __enter__(self) -> Path:
        parent = self.out.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _remove_abandoned(parent, self.out.name)
            self.staging = Path(tempfile.mkdtemp(
                prefix=f".{self.out.name}.staging-{os.getpid()}-", dir=parent))
            mask = os.umask(0)
            os.umask(mask)
            self.staging.chmod(0o777 & ~mask)  # as mkdir would make it, not mkdtemp's 0700
        except OSError as exc:
            raise RunOutputError(f"{self.out}: cannot create the run directory ({exc})"
                                 ) from exc
        return self.staging

    def commit(self) -> None:
        """Put the staged run in place of the old one (if any)."""
        assert self.staging is not None  # noqa: S101 - entered
        old = None
        try:
            if self.out.exists():
                old = self.staging.with_name(self.staging.name.replace(".staging-", ".old-"))
                os.replace(self.out, old)
            os.replace(self.staging, self.out)
        except OSError as exc:
            if old is not None and not self.out.exists():
                os.replace(old, self.out)
            raise RunOutputError(f"{self.out}: cannot write the run ({exc})") from exc
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        if not self.committed and self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def save_run(run: RunResult, out: str | os.PathLike, report: bool = False,
             overrides: dict[str, Any] | None = None) -> list[str]:
    """Write `run` as the run directory `out`, whole (RunResult.save)."""
    run_dir = RunDir(out)
    with run_dir as staging:
        text = None if overrides else policy_toml(run.policy)
        files = write_run(run, staging, text, overrides=overrides)
        if report:
            from socialcredit.report import write_report

            files.append(write_report(staging, shown_as=run_dir.out).name)
        run_dir.commit()
    return files


def is_run_dir(path: Path) -> bool:
    """Whether `path` holds a run written by `simulate` (its run.json says so)."""
    try:
        manifest = json.loads((path / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "format_version" in manifest


def _remove_abandoned(parent: Path, name: str) -> None:
    """Staging directories of runs into `name` whose process is gone (killed hard)."""
    for p in parent.glob(f".{name}.staging-*"):
        pid = p.name.removeprefix(f".{name}.staging-").split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_run(run: RunResult, staging: Path, policy_text: str | None,
              ledger_rows: int | None = None,
              overrides: dict[str, Any] | None = None) -> list[str]:
    """Write every output of a run into `staging` (see RunDir); returns the file names.
    `policy_text`: the policy file as written; with `overrides` (recorded in run.json),
    policy.toml is the policy the run used, written out whole."""
    try:
        manifest = run_manifest(run, ledger_rows)
        manifest["overrides"] = dict(overrides or {})
        files = {
            "summary.json": _json(summary(run)),
            "details.json": _json(details(run)),
            "run.json": _json(manifest),
        }
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        pq.write_table(metrics_table(daily_metrics(run)), staging / "metrics.parquet",
                       compression="zstd")
        if overrides:
            policy_text = policy_toml(run.policy, overrides)
        if policy_text is not None:
            (staging / "policy.toml").write_text(policy_text, encoding="utf-8")
    except OSError as exc:
        raise RunOutputError(f"{staging}: cannot write the run ({exc})") from exc
    except ValueError as exc:  # json: a statistic that is not a finite number
        raise RunOutputError(f"a statistic of this run is not a finite number ({exc});"
                             " please report it with the policy") from exc
    return sorted(p.name for p in staging.iterdir())


def metrics_table(cols: dict[str, Any]) -> pa.Table:
    """Daily metrics (name -> one value per day) as an Arrow table."""
    return pa.table({k: pa.array(np.asarray(v), from_pandas=True)
                     if np.asarray(v).dtype == object else np.asarray(v)
                     for k, v in cols.items()})


def run_manifest(run: RunResult, ledger_rows: int | None) -> dict[str, Any]:
    """The exact policy, seed, version and sizes of a run (run.json)."""
    return {
        "format_version": FORMAT_VERSION,
        "socialcredit_version": __version__,
        "policy_name": run.policy.meta.name,
        "policy_version": run.policy.meta.version,
        "seed": run.seed,
        "days": run.days,
        "persons": run.n_persons,
        "adults": run.n_adults,
        "children": run.n_children,
        "companies": run.n_companies,
        "blocks": run.blocks,
        "records": run.records,
        "ledger_rows": ledger_rows,
        "backend": run.backend,
        "executor": run.executor,
        "workers": run.workers,
        "threads": run.threads,
        "chunk_size": run.chunk_size,
        "seconds": round(run.seconds, 3),
        "person_days_per_second": round(run.person_days / run.seconds) if run.seconds else None,
        "timings": {k: round(v, 3) for k, v in run.timings.items()},
        "phases": [name for name, _ in PHASES],
        "platform": {"python": platform.python_version(), "machine": platform.machine()},
        "policy": run.policy.model_dump(mode="json"),
    }


def _json(data: Any) -> str:
    # strict JSON: a NaN or an infinity here is a bug, not a value to write
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
