"""The fast kernel held to the plain NumPy backend, subject by subject.

Both interpret the same plan and draw from the same counter-based streams, so they must
agree exactly: every daily difference array, every final state with its dates, every
ledger row and the misattributed records, for every built-in scenario. The scenarios
cover between them rollout, learning, misattribution, false positives, credit repair,
bans that wipe points, the `latest` aggregate, company kinds, grade-based measures and
spillover onto children.
"""

from __future__ import annotations

import numpy as np
import pytest

from socialcredit import load_scenario, simulate
from socialcredit.engine._backend import get_backend
from socialcredit.engine._layout import Accumulators, Final
from socialcredit.errors import RunConfigError
from socialcredit.scenarios import list_scenarios

SIZES = {"reference": (2_500, 240), "seed": (2_500, 400), "driving-points": (3_000, 800),
         "food-hygiene": (120_000, 600)}


def _run(name: str, backend: str):
    persons, days = SIZES[name]
    rows: list[tuple[str, dict]] = []
    run = simulate(load_scenario(name), population=persons, days=days, seed=11,
                   backend=backend, threads=2, chunk_size=persons // 3 + 1, dates=True,
                   ledger=lambda t, cols: rows.append((t, cols)))
    return run, rows


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SIZES))
def test_kernel_equals_numpy_backend(name):
    assert sorted(SIZES) == sorted(list_scenarios())
    fast, fast_rows = _run(name, "cpu")
    slow, slow_rows = _run(name, "numpy")
    assert fast.backend == "cpu"
    assert slow.backend == "numpy"
    assert fast.types.keys() == slow.types.keys()
    for tname, a in fast.types.items():
        b = slow.types[tname]
        for f in Accumulators._fields:
            np.testing.assert_array_equal(getattr(a.acc, f), getattr(b.acc, f),
                                          err_msg=f"{tname} {f}")
        for f in Final._fields:
            np.testing.assert_array_equal(getattr(a.final, f), getattr(b.final, f),
                                          err_msg=f"{tname} {f}")
        assert a.n_misattributed == b.n_misattributed
        ledger = [{k: np.concatenate([c[k] for t, c in rows if t == tname])
                   for k in ("day", "subject", "kind", "flags", "doer")}
                  for rows in (fast_rows, slow_rows)]
        for k in ledger[0]:
            np.testing.assert_array_equal(ledger[0][k], ledger[1][k], err_msg=f"{tname} {k}")
    # the comparison is not vacuous: records, listings and consequences happened
    assert fast.records > 500
    touched = sum(int(np.abs(t.acc.list).sum() + np.abs(t.acc.measure).sum()
                      + np.abs(t.acc.published).sum()) for t in fast.types.values())
    assert touched > 10


def test_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(RunConfigError, match="available: cpu, numpy"):
        get_backend("gpu")


def test_each_phase_is_a_function_of_both_backends_called_in_order():
    """engine/_phases.py is the order of a day: the kernel and the NumPy backend each
    have a function per phase, and call them in that order."""
    import inspect

    from socialcredit.engine import PHASES, _kernel, _numpy_backend

    names = [name for name, _ in PHASES]
    kernel = inspect.getsource(_kernel.run_chunk.py_func)
    chunk = inspect.getsource(_numpy_backend._Chunk.run)
    for name in names:
        assert hasattr(_kernel, f"_{name}"), name
        assert hasattr(_numpy_backend._Chunk, name), name
    calls = [kernel.index(f"_{n}(") for n in names]
    assert calls == sorted(calls)
    calls = [chunk.index(f"self.{n}(") for n in names]
    assert calls == sorted(calls)
