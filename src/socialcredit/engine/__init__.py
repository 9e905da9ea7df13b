"""The simulator and the one rule path: compile a policy to a plan, run it on a
synthetic society (or replay real subjects' records through it), read the statistics.

- `compile_policy`: the plan of each subject type (engine/_plan.py), arrays in the typed
  layouts of engine/_layout.py;
- `simulate`: a run, chunk by chunk on a `Backend` (engine/_backend.py: 'cpu', the
  Numba kernel of engine/_kernel.py, or 'numpy', the readable reference of
  engine/_numpy_backend.py), phase by phase as engine/_phases.py lists them;
- `replay`: subjects' states from their records, through the same backends (what the
  service runs);
- `applying`, `decide`, `disclosed`, `company_terms`: what a state brings, the one
  decision function (engine/_decide.py);
- `summary`, `details`, `daily_metrics`: the statistics of a run;
- `RunDir`, `write_run`, `save_run`, `run_manifest`, `metrics_table`: a run directory,
  written whole.
"""

from socialcredit.engine._backend import Backend, Job, backend_names, get_backend
from socialcredit.engine._decide import applying, company_terms, decide, disclosed
from socialcredit.engine._identity import (
    record_identity,
    repair_seed,
    repaired,
    sim_record_id,
    sim_subject_id,
)
from socialcredit.engine._kernel import FALSE, FALSE_POSITIVE, MISATTRIBUTED, NEVER
from socialcredit.engine._metrics import daily_metrics, details, summary
from socialcredit.engine._output import RunDir, metrics_table, run_manifest, save_run, write_run
from socialcredit.engine._phases import PHASES
from socialcredit.engine._plan import BIG, TypePlan, compile_policy
from socialcredit.engine._replay import Replay, replay
from socialcredit.engine._run import RunResult, simulate

__all__ = ["BIG", "FALSE", "FALSE_POSITIVE", "MISATTRIBUTED", "NEVER", "PHASES", "Backend",
           "Job", "Replay", "RunDir", "RunResult", "TypePlan", "applying", "backend_names",
           "company_terms", "compile_policy", "daily_metrics", "decide", "details", "disclosed",
           "get_backend", "metrics_table", "record_identity", "repair_seed", "repaired",
           "replay", "run_manifest", "save_run", "simulate", "sim_record_id", "sim_subject_id",
           "summary", "write_run"]
