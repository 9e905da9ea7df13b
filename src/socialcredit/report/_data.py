"""Read a run directory back: its summary, details, manifest and daily metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from socialcredit.engine._output import FORMAT_VERSION
from socialcredit.errors import RunOutputError

REQUIRED = ("summary.json", "details.json", "run.json", "metrics.parquet")


@dataclass(frozen=True)
class RunData:
    """A finished run as read from its directory (aggregates only, never per person)."""

    path: Path
    summary: dict[str, Any]
    details: dict[str, Any]
    manifest: dict[str, Any]
    metrics: dict[str, list]

    @property
    def label(self) -> str:
        return f"{self.manifest['policy_name']} ({self.path.name})"

    @property
    def days(self) -> int:
        return int(self.manifest["days"])

    def column(self, name: str) -> list | None:
        return self.metrics.get(name)

    def columns(self, prefix: str) -> dict[str, list]:
        """Metric columns that start with `prefix`, keyed by the rest of their name."""
        return {k[len(prefix):]: v for k, v in self.metrics.items() if k.startswith(prefix)}


def read_run(path: str | Path) -> RunData:
    """Read a run directory written by `socialcredit simulate`.

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
    return RunData(path=p, summary=summary, details=details, manifest=manifest,
                   metrics=metrics)


def society_key(run: RunData) -> dict[str, Any]:
    """What makes two runs share a society (and so common random numbers)."""
    policy = run.manifest["policy"]
    return {
        "seed": run.manifest["seed"],
        "persons": run.manifest["persons"],
        "days": run.manifest["days"],
        "population": policy["population"],
        "region_weights": [r["weight"] for r in policy["regions"]],
    }


def check_comparable(runs: list[RunData]) -> None:
    """Refuse runs that do not share a society, saying what differs."""
    if len(runs) < 2:
        raise RunOutputError("compare needs at least two run directories")
    base = society_key(runs[0])
    for other in runs[1:]:
        key = society_key(other)
        diff = [k for k in base if base[k] != key[k]]
        if diff:
            what = ", ".join(
                f"{k} ({base[k]!r} vs {key[k]!r})" if k in ("seed", "persons", "days")
                else f"{k} section" for k in diff)
            raise RunOutputError(
                f"cannot compare {runs[0].path} and {other.path}: they do not share a society"
                f" (different {what}). Runs are comparable when they have the same seed,"
                " population, days, population section and region weights, so that their"
                " differences come from policy alone."
            )
