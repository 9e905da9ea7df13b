"""The order of a simulated day: documented here, once, as data.

The kernel applies these phases, in this order, on every day on which anything can
change for a subject. On other days nothing changes, so nothing is computed.
"""

from __future__ import annotations

PHASES: tuple[tuple[str, str], ...] = (
    ("acts", "Subjects act: each behaviour happens with its daily probability (rate x the "
             "subject's multiplier x deterrence where the region is watched)."),
    ("sensing", "Channels see acts: detection (x coverage), misattribution to another subject "
                "of the same region, and false positives about subjects who did nothing."),
    ("records", "Records are requested against their subject: own detected acts, false "
                "positives, and misattributed records delivered from other subjects. A record "
                "that triggers a list (a court default) sets that listing's end."),
    ("expiry", "Records older than the score window stop counting."),
    ("scores", "Score = base + points in the window (or the newest record's points), "
               "clamped; the grade follows from the bands."),
    ("lists", "Lists in policy order: score thresholds, triggered listings, bans (which may "
              "clear the points), and exclusions (a redlist excludes the blacklisted)."),
    ("sanctions", "Sanctions and privileges follow from lists and grades; spillover measures "
                  "reach the children of listed guardians."),
    ("metrics", "Changes of score, grade and lists are written as differences at their day; "
                "daily series are their running sums."),
)

__all__ = ["PHASES"]
