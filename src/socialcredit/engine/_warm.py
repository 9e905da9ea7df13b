"""Compile the engine's Numba code now, so that it is cached on disk before it is timed
or waited for (`make demo` and `make test` run this first).

    python -m socialcredit.engine._warm

The first compile takes about half a minute; later processes load the cache in about a
second.
"""

from __future__ import annotations

import time

import numpy as np


def warm(name: str = "reference") -> float:
    """Run tiny cases through every compiled path: the simulator, a replay (the
    service's path) and the decision function on arrays (the NumPy backend's).
    Returns the seconds it took."""
    from socialcredit.engine import applying, compile_policy, decide, disclosed, replay
    from socialcredit.engine._run import simulate
    from socialcredit.scenarios import load_scenario

    t = time.perf_counter()
    policy = load_scenario(name)
    simulate(policy, population=200, days=3, seed=0, threads=1)
    for plan in compile_policy(policy).values():
        replay(plan, 1, 3, np.zeros(1, np.int64), np.zeros(1, np.int64),
               np.zeros(1, np.int64))
        cons, g = plan.consequences, np.zeros(2, np.int64)
        bits = applying(cons, g, g)
        disclosed(cons, g, g, g)
        if plan.services:
            decide(cons, 0, bits, bits * 0)
    return time.perf_counter() - t


if __name__ == "__main__":
    print("compiling the simulator's kernels (once: they are cached for later runs)...",
          flush=True)
    print(f"ready in {warm():.1f} s")
