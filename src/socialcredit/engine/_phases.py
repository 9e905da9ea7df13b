"""The order of a simulated day: documented here, once, as data.

The kernel applies these phases, in this order, on every day on which anything can
change for a subject. On other days nothing changes, so nothing is computed.
"""

from __future__ import annotations

PHASES: tuple[tuple[str, str], ...] = (
    ("acts", "Subjects act: each behaviour happens with its daily probability (rate x the "
             "subject's multiplier x deterrence where the region is watched). Only acts a "
             "channel records are drawn; all acts are counted in expectation."),
    ("sensing", "Channels see acts: the record kind (outcome), misattribution to another "
                "subject of the same region, and, with learning, own detections that raise "
                "perceived coverage from the next day."),
    ("records", "Records are requested against their subject: own detected acts, false "
                "positives, and records delivered from elsewhere. A record that triggers a "
                "list (a court default) sets that listing's end, shortened by credit repair "
                "drawn from the record's identity."),
    ("expiry", "Records older than the score window stop counting."),
    ("scores", "Score = base + points in the window (or the newest record's points), "
               "clamped."),
    ("lists", "Lists in policy order: score thresholds, triggered listings, bans (which may "
              "clear the points, and so the score), and exclusions (a redlist excludes the "
              "blacklisted); the grade follows from the final score."),
    ("sanctions", "The one decision function (engine/_decide.py): the measures that apply "
                  "to the subject or, through it, to its children, and the disclosure rules "
                  "that publish it."),
    ("metrics", "Changes of score, grade, lists, measures in force, publication and each "
                "service's decision are written as differences at their day; daily series "
                "are their running sums."),
)

__all__ = ["PHASES"]
