"""Reports: see what a run did (`write_report`) and how runs differ (`write_comparison`).

Each report is one HTML file that opens offline: charts are Vega-Lite (built with
Altair) with the Vega libraries inlined, and carry daily aggregates only.

A run of several seeds (`simulate --seeds K`) is shown by its mean, with bands across
seeds on the daily charts and 95 % intervals on the statistics; a comparison gives each
difference a 95 % interval, paired over the seeds the runs share (common random
numbers) or Welch's for independent seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialcredit._lazy import lazy

# each name is imported when first used: a page that needs only the Vega bundle does
# not load Altair
_WHERE = {"RunData": "._data", "check_comparable": "._data", "read_run": "._data",
          "vega_bundle": "._bundle", "write_comparison": "._html", "write_report": "._html"}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy(__name__, _WHERE, globals())


if TYPE_CHECKING:  # for type checkers and editors
    from socialcredit.report._bundle import vega_bundle  # noqa: F401
    from socialcredit.report._data import RunData, check_comparable, read_run  # noqa: F401
    from socialcredit.report._html import write_comparison, write_report  # noqa: F401
