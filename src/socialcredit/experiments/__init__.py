"""Experiments: many runs of a policy, and what they say together.

- overrides (`Policy.with_overrides`, `simulate --set`): a policy with values changed;
- replicates (`simulate --seeds K`): one policy over several seeds, with intervals;
- sweeps (`socialcredit sweep`): parameters over a grid, a Latin hypercube or a Sobol
  sequence, runs on an executor (local worker processes or a Ray cluster);
- sensitivity (`socialcredit sensitivity`): Morris screening and Sobol indices (SALib);
- calibration (`socialcredit calibrate`): parameters fitted to published figures (Optuna).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialcredit._lazy import lazy

# each name is imported when first used: the command line registers these commands
# without loading pydantic, NumPy or Optuna (`socialcredit --help` stays instant)
_WHERE = {
    "CalibrationError": "._calibrate", "CalibrationResult": "._calibrate",
    "calibrate": "._calibrate", "load_calibration": "._calibrate",
    "InlineExecutor": "._executor", "LocalExecutor": "._executor", "RayExecutor": "._executor",
    "get_executor": "._executor",
    "load_sensitivity": "._sensitivity", "sensitivity": "._sensitivity",
    "Experiment": "._spec", "ExperimentError": "._spec", "load_experiment": "._spec",
    "run_points": "._sweep", "sweep": "._sweep",
}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy(__name__, _WHERE, globals())


if TYPE_CHECKING:  # for type checkers and editors
    from socialcredit.experiments._calibrate import (  # noqa: F401
        CalibrationError,
        CalibrationResult,
        calibrate,
        load_calibration,
    )
    from socialcredit.experiments._executor import (  # noqa: F401
        InlineExecutor,
        LocalExecutor,
        RayExecutor,
        get_executor,
    )
    from socialcredit.experiments._sensitivity import (  # noqa: F401
        load_sensitivity,
        sensitivity,
    )
    from socialcredit.experiments._spec import (  # noqa: F401
        Experiment,
        ExperimentError,
        load_experiment,
    )
    from socialcredit.experiments._sweep import run_points, sweep  # noqa: F401
