"""The backend seam: where array work runs.

The engine calls `Backend.run_chunk` for every chunk of subjects, and nothing else of
the backend. The CPU backend runs the Numba kernel with the GIL released, so chunks run
in parallel threads. A GPU (CuPy RawKernel) or Ray backend implements the same call over
the same plan arrays; chunks are independent, so they can run anywhere.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from socialcredit.engine._kernel import run_chunk as _cpu_run_chunk
from socialcredit.engine._plan import TypePlan
from socialcredit.errors import RunConfigError


class Backend(Protocol):
    name: str

    def run_chunk(self, mode_a: bool, seed: int, plan: TypePlan, start: int, end: int,
                  days: int, region: np.ndarray, seg: np.ndarray, traits: np.ndarray,
                  n_children: np.ndarray, pool: np.ndarray, pool_off: np.ndarray,
                  incoming: tuple, acc: dict, final: tuple, box: tuple, led_on: bool,
                  led: tuple, fifo: tuple) -> int: ...


class CpuBackend:
    """Numba on the CPU; one chunk per call, GIL released."""

    name = "cpu"

    def run_chunk(self, mode_a: bool, seed: int, plan: TypePlan, start: int, end: int,
                  days: int, region: np.ndarray, seg: np.ndarray, traits: np.ndarray,
                  n_children: np.ndarray, pool: np.ndarray, pool_off: np.ndarray,
                  incoming: tuple, acc: dict, final: tuple, box: tuple, led_on: bool,
                  led: tuple, fifo: tuple) -> int:
        a = plan.arrays
        s = plan.scalars
        return int(_cpu_run_chunk(
            mode_a, seed, plan.subject_type, start, end, days,
            region, seg, traits, n_children,
            a["join_day"], a["cov"],
            a["b_rate"], a["b_mult"], a["b_chan"], a["b_stream"], a["b_os"], a["b_oe"],
            a["b_segmask"],
            a["o_kind"], a["o_prob"], a["o_trait"], a["o_compl"],
            a["k_points"], a["k_trig"], a["k_tdays"], a["k_rafter"], a["k_rprob"],
            a["c_det"], a["c_cov"], a["c_mis"], a["c_deter"], a["c_learn"], a["c_fp_rate"],
            a["c_fp_kind"], a["c_fp_stream"],
            s["base"], s["window"], s["agg"], s["clamp_lo"], s["clamp_hi"], a["grade_min"],
            a["l_below"], a["l_atleast"], a["l_excl"], a["l_dur"], a["l_clear"],
            s["spill_mask"],
            pool, pool_off,
            *incoming,
            s["hist_lo"],
            acc["grade"], acc["list"], acc["wrong"], acc["child"], acc["hist"],
            acc["rec"], acc["false"], acc["acts"], acc["reg_acts"], acc["reg_list"],
            acc["ever"],
            *final,
            *box,
            led_on, *led,
            *fifo,
        ))


_BACKENDS: dict[str, type] = {"cpu": CpuBackend}


def get_backend(name: str) -> Backend:
    """The backend called `name`; only 'cpu' exists so far."""
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise RunConfigError(
            f"unknown backend {name!r}; available: {', '.join(sorted(_BACKENDS))}"
        ) from None
