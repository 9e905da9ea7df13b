"""socialcredit: the social credit system as described in public reporting, implemented
openly so it can be inspected and measured.

Policy as code (`load_policy`), a simulator on synthetic people (`simulate`), the
statistics of a run (`summary`, `daily_metrics`), and experiments over many runs
(`sweep`). Importing has no side effects, and
imports nothing heavy: each name is loaded when first used (so `socialcredit --help`
does not wait for Numba).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialcredit._lazy import lazy

__version__ = "0.1.0"

_WHERE = {
    "RunResult": "socialcredit.engine", "daily_metrics": "socialcredit.engine",
    "details": "socialcredit.engine", "simulate": "socialcredit.engine",
    "summary": "socialcredit.engine",
    "PolicyError": "socialcredit.errors", "PolicyFileError": "socialcredit.errors",
    "RunConfigError": "socialcredit.errors", "RunOutputError": "socialcredit.errors",
    "ScenarioNotFoundError": "socialcredit.errors",
    "SocialCreditError": "socialcredit.errors",
    "Policy": "socialcredit.policy", "load_policy": "socialcredit.policy",
    "parse_policy": "socialcredit.policy",
    "Population": "socialcredit.population", "build_population": "socialcredit.population",
    "list_scenarios": "socialcredit.scenarios", "load_scenario": "socialcredit.scenarios",
    "sweep": "socialcredit.experiments", "load_experiment": "socialcredit.experiments",
}

__all__ = sorted([*_WHERE, "__version__"])


__getattr__, __dir__ = lazy(__name__, _WHERE, globals())


if TYPE_CHECKING:  # for type checkers and editors
    from socialcredit.engine import (  # noqa: F401
        RunResult,
        daily_metrics,
        details,
        simulate,
        summary,
    )
    from socialcredit.errors import (  # noqa: F401
        PolicyError,
        PolicyFileError,
        RunConfigError,
        RunOutputError,
        ScenarioNotFoundError,
        SocialCreditError,
    )
    from socialcredit.experiments import load_experiment, sweep  # noqa: F401
    from socialcredit.policy import Policy, load_policy, parse_policy  # noqa: F401
    from socialcredit.population import Population, build_population  # noqa: F401
    from socialcredit.scenarios import list_scenarios, load_scenario  # noqa: F401
