"""socialcredit: the social credit system as described in public reporting, implemented
openly so it can be inspected and measured.

Policy as code (`load_policy`), a simulator on synthetic people (`simulate`), and the
statistics of a run (`summary`, `daily_metrics`). Importing has no side effects.
"""

__version__ = "0.1.0"

from socialcredit.engine import RunResult, daily_metrics, details, simulate, summary  # noqa: E402
from socialcredit.errors import (  # noqa: E402
    PolicyError,
    PolicyFileError,
    RunConfigError,
    RunOutputError,
    ScenarioNotFoundError,
    SocialCreditError,
)
from socialcredit.policy import Policy, load_policy, parse_policy  # noqa: E402
from socialcredit.population import Population, build_population  # noqa: E402
from socialcredit.scenarios import list_scenarios, load_scenario  # noqa: E402

__all__ = [
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "Population",
    "RunConfigError",
    "RunOutputError",
    "RunResult",
    "ScenarioNotFoundError",
    "SocialCreditError",
    "__version__",
    "build_population",
    "daily_metrics",
    "details",
    "list_scenarios",
    "load_policy",
    "load_scenario",
    "parse_policy",
    "simulate",
    "summary",
]
