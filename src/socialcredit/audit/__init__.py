"""Audit a policy against the law: is it the social scoring the EU AI Act bans?

`audit(policy)` reads a policy's compiled plan against AI Act Art. 5(1)(c) (detriment
in unrelated contexts or out of proportion, spillover onto people who did nothing), GDPR
Art. 22 (solely automated decisions with significant effects) and Art. 15 (what the
subject can see), and the legal basis and way out of every sanction. Every path is
computed through the rule engine (`least_acts`: the exact least number of acts that
brings a measure). `audit(policy, run_figures(DIR))` also says, from a run of the
policy, how many adults and children each finding touches and the wrongful listings
behind each measure. Findings are indicators for legal review, not legal advice.

>>> from socialcredit.scenarios import load_scenario
>>> audit(load_scenario("food-hygiene")).verdicts["AI Act Art. 5(1)(c)"]
'clear'
"""

from socialcredit._lazy import lazy

_WHERE = {**{n: "._audit" for n in ("ARTICLES", "DISCLAIMER", "FINDING_TYPES", "Audit",
                                     "Finding", "MeasureReach", "audit", "contexts")},
          **{n: "._least" for n in ("Hit", "Reach", "at_rest", "combined_acts", "least_acts",
                                     "reach")},
          **{n: "._figures" for n in ("ListFigures", "MeasureFigures", "RunFigures",
                                      "result_figures", "run_figures")}}
__all__ = sorted(_WHERE)
# imported when first used: the command line registers `audit` without loading Numba
__getattr__, __dir__ = lazy(__name__, _WHERE, globals())
