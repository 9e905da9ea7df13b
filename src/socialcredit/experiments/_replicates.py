"""Replicates: one policy run with several seeds, written as one directory.

    OUT/run.json          the manifest: kind "replicates", the seeds, the policy
    OUT/summary.json      the mean over seeds of every statistic (the same shape as a run's)
    OUT/replicates.json   every statistic's mean, sd, 95 % interval, min, max and values
                          by seed
    OUT/details.json      the mean over seeds of every number in the runs' details
    OUT/metrics.parquet   the daily mean over seeds (the same columns as a run's)
    OUT/seeds.parquet     the daily metrics of every seed, with a `seed` column
    OUT/seed-<S>/         each seed's own run directory

The directory is written whole, as a run directory is (engine/_output.RunDir): a failure
half way leaves an earlier one as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engine import RunDir, metrics_table, run_manifest, write_run
from socialcredit.errors import RunConfigError, RunOutputError
from socialcredit.policy import Policy, policy_toml
from socialcredit.stats import describe, flatten

MAX_SEEDS = 1000


def seed_list(base: int, count: int | None, listed: str | None) -> list[int]:
    """The seeds of `--seeds K` (base, base + 1, ...) or `--seed-list 1,5,9`."""
    if count is not None and listed is not None:
        raise RunConfigError("give --seeds K or --seed-list, not both")
    if listed is not None:
        try:
            seeds = [int(s) for s in listed.replace(" ", "").split(",") if s]
        except ValueError:
            raise RunConfigError(f"--seed-list {listed!r}: expected integers separated by"
                                 " commas, such as 1,2,3") from None
        if not seeds:
            raise RunConfigError("--seed-list is empty")
        if len(set(seeds)) != len(seeds):
            raise RunConfigError(f"--seed-list {listed!r}: a seed is listed twice")
    else:
        if count is None or not 1 <= count <= MAX_SEEDS:
            raise RunConfigError(f"--seeds must be between 1 and {MAX_SEEDS}, got {count}")
        seeds = [base + k for k in range(count)]
    if len(seeds) > MAX_SEEDS:
        raise RunConfigError(f"{len(seeds)} seeds; at most {MAX_SEEDS}")
    for s in seeds:
        if not 0 <= s < 2**63:
            raise RunConfigError(
                f"seed must be an integer in [0, 2**63), got {s}" + (
                    f" (--seeds {count} from {base} runs {base} to {base + count - 1})"
                    if count is not None else ""))
    return seeds


def run_replicates(policy: Policy, population: int, days: int, seeds: Sequence[int],
                   out: str | Path, *, policy_text: str | None = None,
                   overrides: dict[str, Any] | None = None, threads: int | None = None,
                   chunk_size: int | None = None, backend: str = "cpu",
                   progress: Callable[[int, int], Any] | None = None,
                   run_progress: Any = None) -> list[str]:
    """Run `policy` once per seed and write the replicate directory `out` (see the
    module's docstring). `progress(done, total)` is called after each seed."""
    from socialcredit.engine import simulate

    run_dir = RunDir(out)
    per_seed: dict[int, dict[str, float | None]] = {}
    details_by_seed: dict[int, Any] = {}
    daily: list[pa.Table] = []
    first_manifest: dict[str, Any] | None = None
    seconds = 0.0
    kwargs = {} if chunk_size is None else {"chunk_size": chunk_size}
    with run_dir as staging:
        for k, seed in enumerate(seeds):
            run = simulate(policy, population, days, seed, threads=threads,
                           backend=backend, progress=run_progress, subjects=False, **kwargs)
            sub = staging / f"seed-{seed}"
            sub.mkdir()
            write_run(run, sub, policy_text, overrides=overrides)
            summary = json.loads((sub / "summary.json").read_text(encoding="utf-8"))
            per_seed[seed] = flatten(summary)
            details_by_seed[seed] = json.loads((sub / "details.json").read_text(
                encoding="utf-8"))
            table = pq.read_table(sub / "metrics.parquet")
            daily.append(table.add_column(0, "seed", pa.array([seed] * table.num_rows,
                                                              pa.int64())))
            seconds += run.seconds
            if first_manifest is None:
                first_manifest = run_manifest(run, None)
            del run
            if progress is not None:
                progress(k + 1, len(seeds))
        assert first_manifest is not None  # noqa: S101 - at least one seed
        summaries = [json.loads((staging / f"seed-{s}" / "summary.json").read_text(
            encoding="utf-8")) for s in seeds]
        _write_json(staging / "summary.json", mean_tree(summaries))
        _write_json(staging / "details.json", mean_tree([details_by_seed[s] for s in seeds]))
        _write_json(staging / "replicates.json", replicate_stats(per_seed))
        seeds_table = pa.concat_tables(daily)
        pq.write_table(seeds_table, staging / "seeds.parquet", compression="zstd")
        pq.write_table(metrics_table(_daily_mean(seeds_table)), staging / "metrics.parquet",
                       compression="zstd")
        manifest = dict(first_manifest)
        manifest.update(kind="replicates", seeds=list(seeds), seed=seeds[0],
                        seconds=round(seconds, 3), overrides=overrides or {},
                        runs=[f"seed-{s}" for s in seeds])
        manifest.pop("person_days_per_second", None)
        manifest["records"] = round(float(np.mean([
            json.loads((staging / f"seed-{s}" / "run.json").read_text(
                encoding="utf-8"))["records"] for s in seeds])))
        _write_json(staging / "run.json", manifest)
        if overrides:
            policy_text = policy_toml(policy, overrides)
        if policy_text is not None:
            (staging / "policy.toml").write_text(policy_text, encoding="utf-8")
        files = sorted(p.name for p in staging.iterdir())
        run_dir.commit()
    return files


def replicate_stats(per_seed: dict[int, dict[str, float | None]]) -> dict[str, Any]:
    """Every statistic across seeds: describe() plus the values by seed."""
    names = list(dict.fromkeys(k for flat in per_seed.values() for k in flat))
    return {"seeds": list(per_seed), "level": 0.95, "statistics": {
        name: {**describe([flat.get(name) for flat in per_seed.values()]),
               "by_seed": {str(s): flat.get(name) for s, flat in per_seed.items()}}
        for name in names}}


def mean_tree(trees: list[Any]) -> Any:
    """The mean over seeds of every number in a nest of dicts (same shape as one);
    a number undefined (null) in some seeds is the mean of the others."""
    first = trees[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for t in trees if isinstance(t, dict) for k in t))
        return {k: mean_tree([t.get(k) for t in trees if isinstance(t, dict)]) for k in keys}
    nums = [float(t) for t in trees
            if isinstance(t, int | float) and not isinstance(t, bool)]
    if nums:
        return float(np.mean(nums))
    return first


def _daily_mean(table: pa.Table) -> dict[str, np.ndarray]:
    """The mean over seeds of each daily metric (day stays the day)."""
    seeds = table.column("seed").to_numpy()
    n_seeds = len(np.unique(seeds))
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        if name == "seed":
            continue
        col = table.column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            values = col.to_numpy(zero_copy_only=False).astype(np.float64)
            rows = values.reshape(n_seeds, -1)
            if name == "day":
                out[name] = rows[0].astype(np.int32)
                continue
            ok = np.isfinite(rows)
            count = ok.sum(axis=0)
            total = np.where(ok, rows, 0.0).sum(axis=0)
            out[name] = np.divide(total, count, out=np.full(total.shape, np.nan),
                                  where=count > 0)
    return out


def _write_json(path: Path, data: Any) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise RunOutputError(f"{path}: cannot be written ({exc})") from exc
