"""The simulator: compile a policy to a plan, run it on a synthetic society, read the
statistics. See engine/_phases.py for the order of a day and engine/_kernel.py for how
a subject is run over all days at once."""

from socialcredit.engine._metrics import daily_metrics, details, summary
from socialcredit.engine._phases import PHASES
from socialcredit.engine._plan import compile_policy
from socialcredit.engine._run import RunResult, simulate

__all__ = ["PHASES", "RunResult", "compile_policy", "daily_metrics", "details", "simulate",
           "summary"]
