"""Estimates of noise across seeds (used by replicates, compare and experiments): means
with 95 % intervals, and differences between
two arms, paired when they share seeds (common random numbers) and Welch's otherwise.

Intervals use Student's t with n - 1 degrees of freedom (scipy.stats.t): with a handful
of seeds a normal interval would be too narrow. One seed gives no interval (None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LEVEL", "describe", "difference", "flatten"]

LEVEL = 0.95


def _t(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, df))


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def describe(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, standard deviation (n - 1), the 95 % interval of the mean, min and max of
    the values that are numbers (a statistic undefined in a seed is left out)."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "lo": None, "hi": None, "min": None,
                "max": None}
    mean = math.fsum(x) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "lo": None, "hi": None, "min": x[0],
                "max": x[0]}
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (n - 1))
    half = _t(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "lo": mean - half, "hi": mean + half,
            "min": min(x), "max": max(x)}


def difference(a: Mapping[int, float | None], b: Mapping[int, float | None]
               ) -> dict[str, Any]:
    """B minus A, with a 95 % interval, from per-seed values {seed: value}.

    When the arms share seeds (common random numbers) the difference is paired: the
    interval comes from the per-seed differences of the shared seeds, which is far
    narrower when the arms respond alike to the same random draws. Otherwise it is
    Welch's interval for two independent means. `paired` says which."""
    shared = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
    if len(shared) >= 2:
        d = describe([float(b[s]) - float(a[s]) for s in shared])  # type: ignore[arg-type]
        return {"paired": True, "n": d["n"], "diff": d["mean"], "lo": d["lo"],
                "hi": d["hi"]}
    xa, xb = describe(list(a.values())), describe(list(b.values()))
    if xa["mean"] is None or xb["mean"] is None:
        return {"paired": False, "n": 0, "diff": None, "lo": None, "hi": None}
    diff = xb["mean"] - xa["mean"]
    if xa["sd"] is None or xb["sd"] is None:
        return {"paired": False, "n": min(xa["n"], xb["n"]), "diff": diff, "lo": None,
                "hi": None}
    va, vb = xa["sd"] ** 2 / xa["n"], xb["sd"] ** 2 / xb["n"]
    if va + vb == 0:
        return {"paired": False, "n": min(xa["n"], xb["n"]), "diff": diff, "lo": diff,
                "hi": diff}
    df = (va + vb) ** 2 / (va**2 / (xa["n"] - 1) + vb**2 / (xb["n"] - 1))
    half = _t(df) * math.sqrt(va + vb)
    return {"paired": False, "n": min(xa["n"], xb["n"]), "diff": diff, "lo": diff - half,
            "hi": diff + half}


def flatten(node: Any, prefix: str = "") -> dict[str, float | None]:
    """A summary's numbers by dotted name ({'grades': {'A': 0.1}} -> {'grades.A': 0.1});
    booleans and text are left out, null stays (undefined in this run)."""
    out: dict[str, float | None] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif node is None:
        out[prefix] = None
    elif isinstance(node, int | float) and not isinstance(node, bool):
        out[prefix] = float(node)
    return out


def flatten_paths(node: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a nested document (a policy as JSON) by its path: tables by key,
    arrays of tables by each one's `name` (else its index), other values whole:
    {'lists': [{'name': 'b', 'below': 5}]} -> {'lists[b].below': 5}."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten_paths(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        out = {}
        for i, v in enumerate(node):
            out.update(flatten_paths(v, f"{prefix}[{v.get('name', i)}]"))
        return out
    return {prefix: node}
