"""Reports: see what a run did (`write_report`) and how runs differ (`write_comparison`).

Each report is one HTML file that opens offline: charts are Vega-Lite (built with
Altair) with the Vega libraries inlined, and carry daily aggregates only.

A run of several seeds (`simulate --seeds K`) is shown by its mean, with bands across
seeds on the daily charts and 95 % intervals on the statistics; a comparison gives each
difference a 95 % interval, paired over the seeds the runs share (common random
numbers) or Welch's for independent seeds.
"""

from socialcredit.report._data import RunData, check_comparable, read_run
from socialcredit.report._html import vega_bundle, write_comparison, write_report

__all__ = ["RunData", "check_comparable", "read_run", "vega_bundle", "write_comparison",
           "write_report"]
