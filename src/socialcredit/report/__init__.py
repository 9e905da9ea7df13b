"""Reports: see what a run did (`write_report`) and how runs differ (`write_comparison`).

Each report is one HTML file that opens offline: charts are Vega-Lite (built with
Altair) with the Vega libraries inlined, and carry daily aggregates only.
"""

from socialcredit.report._data import RunData, check_comparable, read_run
from socialcredit.report._html import write_comparison, write_report

__all__ = ["RunData", "check_comparable", "read_run", "write_comparison", "write_report"]
