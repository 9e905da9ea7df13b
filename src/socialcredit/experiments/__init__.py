"""Experiments: many runs of a policy, and what they say together.

- overrides (`Policy.with_overrides`, `simulate --set`): a policy with values changed;
- replicates (`simulate --seeds K`): one policy over several seeds, with intervals;
- sweeps (`socialcredit sweep`): parameters over a grid, a Latin hypercube or a Sobol
  sequence, runs on an executor (local worker processes or a Ray cluster);
- sensitivity (`socialcredit sensitivity`): Morris screening and Sobol indices (SALib);
- calibration (`socialcredit calibrate`): parameters fitted to published figures (Optuna).
"""

from socialcredit.experiments._calibrate import (
    CalibrationError,
    CalibrationResult,
    calibrate,
    load_calibration,
)
from socialcredit.experiments._executor import (
    InlineExecutor,
    LocalExecutor,
    RayExecutor,
    get_executor,
)
from socialcredit.experiments._sensitivity import load_sensitivity, sensitivity
from socialcredit.experiments._spec import Experiment, ExperimentError, load_experiment
from socialcredit.experiments._sweep import run_points, sweep

__all__ = ["CalibrationError", "CalibrationResult", "Experiment", "ExperimentError",
           "InlineExecutor", "LocalExecutor", "RayExecutor", "calibrate", "get_executor",
           "load_calibration", "load_experiment", "load_sensitivity", "run_points",
           "sensitivity", "sweep"]
