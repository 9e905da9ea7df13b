"""Read a run directory back: its summary, details, manifest and daily metrics.

A replicate directory (`simulate --seeds K`, see experiments/_replicates.py) reads as one
run whose numbers are the mean over its seeds, and which also carries every statistic by
seed (replicates.json) and every seed's daily metrics (seeds.parquet, read on first use).
A single run is a replicate set of one seed: the same fields, with one value each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engine._output import FORMAT_VERSION
from socialcredit.errors import RunOutputError
from socialcredit.stats import describe, flatten

REQUIRED = ("summary.json", "details.json", "run.json", "metrics.parquet")
REPLICATE_REQUIRED = ("replicates.json", "seeds.parquet")
# what a seed's own run.json tells apart from the replicate set's (its society's sizes)
_SEED_FIELDS = ("seed", "adults", "children", "companies", "records")


@dataclass(frozen=True)
class RunData:
    """A finished run as read from its directory (aggregates only, never per person).

    `seeds`: the seeds it ran (one for a single run). `statistics`: every statistic of
    the summary by dotted name, as experiments._stats.describe gives it (n, mean, sd, the
    95 % interval lo-hi, min, max) plus `by_seed` {seed: value}; for a single run the
    interval is None."""

    path: Path
    summary: dict[str, Any]
    details: dict[str, Any]
    manifest: dict[str, Any]
    metrics: Mapping[str, list]
    seeds: tuple[int, ...] = ()
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.manifest['policy_name']} ({self.path.name})"

    @property
    def days(self) -> int:
        return int(self.manifest["days"])

    @property
    def replicated(self) -> bool:
        """Whether it ran several seeds (then charts draw bands, statistics intervals)."""
        return len(self.seeds) > 1

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.manifest.get("overrides") or {})

    def by_seed(self, name: str) -> dict[int, float | None]:
        """A statistic's value in each seed ({} when the run does not have it)."""
        stat = self.statistics.get(name)
        return dict(stat["by_seed"]) if stat else {}

    def column(self, name: str) -> list | None:
        return self.metrics.get(name)

    def columns(self, prefix: str) -> dict[str, list]:
        """Metric columns that start with `prefix`, keyed by the rest of their name."""
        return {k[len(prefix):]: self.metrics[k] for k in self.metrics if k.startswith(prefix)}

    @cached_property
    def seed_runs(self) -> tuple[RunData, ...]:
        """One RunData per seed, with that seed's daily metrics and sizes (the rest as
        the set's), for what is computed from daily metrics seed by seed (chart bands).
        A single run is its own one seed."""
        if not self.replicated:
            return (self,)
        arrays = _seed_arrays(self.path / "seeds.parquet", self.seeds, self.days)
        out = []
        for k, seed in enumerate(self.seeds):
            manifest = dict(self.manifest, seed=seed)
            manifest.update(_seed_sizes(self.path, seed))
            out.append(RunData(path=self.path, summary=self.summary, details=self.details,
                               manifest=manifest, metrics=_SeedMetrics(arrays, k),
                               seeds=(seed,)))
        return tuple(out)


class _SeedMetrics(Mapping):
    """One seed's daily metrics, a row of (seeds x days) arrays: a column becomes a list
    only when it is read, so that a set of many seeds is not held as Python floats."""

    def __init__(self, arrays: dict[str, np.ndarray], row: int) -> None:
        self._arrays, self._row = arrays, row

    def __getitem__(self, name: str) -> list:
        return self._arrays[name][self._row].tolist()

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


def _seed_arrays(path: Path, seeds: tuple[int, ...], days: int) -> dict[str, np.ndarray]:
    """seeds.parquet as {column: float64 array (seed, day)}, rows in `seeds` order."""
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise RunOutputError(f"{path}: cannot be read ({exc})") from exc
    names = [n for n in table.column_names if n != "seed"]
    if "seed" not in table.column_names or "day" not in names:
        raise RunOutputError(f"{path}: has no seed or day column; simulate the run again")
    seed_col = table.column("seed").to_numpy()
    day_col = table.column("day").to_numpy()
    pos = {s: k for k, s in enumerate(seeds)}
    rows = np.array([pos.get(int(s), -1) for s in seed_col], dtype=np.int64)
    ok = (rows >= 0) & (day_col >= 0) & (day_col < days)
    if not ok.all() or len(rows) != len(seeds) * days:
        raise RunOutputError(f"{path}: does not hold {days} days of each of the seeds"
                             f" {list(seeds)} named in run.json; simulate the run again")
    out: dict[str, np.ndarray] = {}
    for name in names:
        col = table.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            continue
        grid = np.full((len(seeds), days), np.nan)
        grid[rows, day_col] = col.to_numpy(zero_copy_only=False).astype(np.float64)
        out[name] = grid
    return out


def _seed_sizes(path: Path, seed: int) -> dict[str, Any]:
    """A seed's own sizes from its run.json (adults differ between seeds); nothing when
    the seed's directory is gone (then the set's are used)."""
    try:
        manifest = json.loads((path / f"seed-{seed}" / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: manifest[k] for k in _SEED_FIELDS if k in manifest}


def read_run(path: str | Path) -> RunData:
    """Read a run directory written by `socialcredit simulate` (one seed, or several:
    `--seeds K`).

    Raises `RunOutputError` when the directory is missing, incomplete, or was written
    by a version of socialcredit whose run format this one cannot read.
    """
    p = Path(path)
    if not p.is_dir():
        raise RunOutputError(f"{p}: no such run directory")
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise RunOutputError(
            f"{p}: not a complete run directory (missing {', '.join(missing)});"
            " create one with `socialcredit simulate`"
        )
    try:
        manifest = json.loads((p / "run.json").read_text(encoding="utf-8"))
        summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
        details = json.loads((p / "details.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunOutputError(f"{p}: cannot read the run ({exc})") from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise RunOutputError(
            f"{p}: written by an incompatible version of socialcredit"
            f" ({manifest.get('socialcredit_version', 'unknown')}, run format {version});"
            f" this version reads run format {FORMAT_VERSION}: simulate the run again"
        )
    try:
        metrics = pq.read_table(p / "metrics.parquet").to_pydict()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise RunOutputError(f"{p}/metrics.parquet: cannot be read ({exc})") from exc
    if manifest.get("kind") == "replicates":
        seeds, statistics = _replicates(p, manifest)
    else:
        seed = int(manifest["seed"])
        seeds = (seed,)
        statistics = {name: {**describe([v]), "by_seed": {seed: v}}
                      for name, v in flatten(summary).items()}
    return RunData(path=p, summary=summary, details=details, manifest=manifest,
                   metrics=metrics, seeds=seeds, statistics=statistics)


def _replicates(p: Path, manifest: dict[str, Any]) -> tuple[tuple[int, ...],
                                                             dict[str, dict[str, Any]]]:
    missing = [f for f in REPLICATE_REQUIRED if not (p / f).is_file()]
    if missing:
        raise RunOutputError(f"{p}: not a complete replicate directory (missing"
                             f" {', '.join(missing)}); create one with"
                             " `socialcredit simulate --seeds K`")
    try:
        data = json.loads((p / "replicates.json").read_text(encoding="utf-8"))
        seeds = tuple(int(s) for s in manifest["seeds"])
        statistics = {name: {**{k: v for k, v in stat.items() if k != "by_seed"},
                             "by_seed": {int(s): v for s, v in stat["by_seed"].items()}}
                      for name, stat in data["statistics"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RunOutputError(f"{p}/replicates.json: cannot be read ({exc!r})") from exc
    if not seeds or [int(s) for s in data.get("seeds", [])] != list(seeds):
        raise RunOutputError(f"{p}: replicates.json and run.json name different seeds;"
                             " simulate the run again")
    return seeds, statistics


def society_key(run: RunData) -> dict[str, Any]:
    """What makes two runs share a society, seed aside: with the same seed they see the
    same people and acts (common random numbers); with other seeds, societies drawn alike."""
    policy = run.manifest["policy"]
    return {
        "persons": run.manifest["persons"],
        "days": run.manifest["days"],
        "population": policy["population"],
        "region_weights": [r["weight"] for r in policy["regions"]],
    }


def check_comparable(runs: list[RunData]) -> None:
    """Refuse runs whose societies are not drawn alike, saying what differs. Seeds may
    differ: the comparison says whether differences are paired over shared seeds."""
    if len(runs) < 2:
        raise RunOutputError("compare needs at least two run directories")
    base = society_key(runs[0])
    for other in runs[1:]:
        key = society_key(other)
        diff = [k for k in base if base[k] != key[k]]
        if diff:
            what = ", ".join(
                f"{k} ({base[k]!r} vs {key[k]!r})" if k in ("persons", "days")
                else f"{k} section" for k in diff)
            raise RunOutputError(
                f"cannot compare {runs[0].path} and {other.path}: they do not share a society"
                f" (different {what}). Runs are comparable when they have the same"
                " persons, days, population section and region weights, so that their"
                " differences come from policy (and, where seeds differ, chance) alone."
            )
