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

FORMAT_VERSION = 1


def prepare_out_dir(out: Path) -> Path:
    """Create the run directory and a private staging folder inside it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    except OSError as exc:
        raise RunOutputError(f"{out}: cannot create the run directory ({exc})") from exc


def write_run(run: RunResult, out: Path, staging: Path, policy_text: str | None,
              ledger_rows: int | None = None) -> dict[str, Path]:
    """Write every output into `staging`, then move each into `out`."""
    try:
        files = {
            "summary.json": _json(summary(run)),
            "details.json": _json(details(run)),
            "run.json": _json(run_manifest(run, ledger_rows)),
        }
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        cols = daily_metrics(run)
        pq.write_table(pa.table({k: np.asarray(v) for k, v in cols.items()}),
                       staging / "metrics.parquet", compression="zstd")
        if policy_text is not None:
            (staging / "policy.toml").write_text(policy_text, encoding="utf-8")
        written = {}
        for f in sorted(staging.iterdir()):
            os.replace(f, out / f.name)
            written[f.name] = out / f.name
        return written
    except OSError as exc:
        raise RunOutputError(f"{out}: cannot write the run ({exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_manifest(run: RunResult, ledger_rows: int | None) -> dict[str, Any]:
    """The exact policy, seed, version and sizes of a run (run.json)."""
    pop = run.population
    return {
        "format_version": FORMAT_VERSION,
        "socialcredit_version": __version__,
        "policy_name": run.policy.meta.name,
        "policy_version": run.policy.meta.version,
        "seed": run.seed,
        "days": run.days,
        "persons": pop.n_persons,
        "adults": pop.n_adults,
        "children": int(pop.is_child.sum()),
        "companies": pop.n_companies,
        "records": run.records,
        "ledger_rows": ledger_rows,
        "backend": run.backend,
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
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
