"""Property tests of score arithmetic (window, expiry, clamp) and list rules.

Records are fed to the kernel through `subject_history` (the one-subject path) and its
daily score, grade and lists are held against a brute-force oracle written from the
policy's definitions.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.engine import compile_policy
from socialcredit.engine._replay import Record, subject_history
from socialcredit.policy import parse_policy
from socialcredit.scenarios import scenario_path

DAYS = 60
REFERENCE = scenario_path("reference").read_text(encoding="utf-8")
POINTS = {"volunteering": 5, "blood_donation": 15, "smoking_in_nonsmoking_area": -5,
          "running_red_light": -10, "excessive_gaming_purchase": -5, "spreading_rumors": -20,
          "late_debt_payment": -30, "court_judgment_default": -100}


def _plan(window: int, clamp: tuple[int, int] | None, trigger_days: int, below: int):
    text = REFERENCE.replace("window_days = 180", f"window_days = {window}"
                             + (f"\nclamp = [{clamp[0]}, {clamp[1]}]" if clamp else ""))
    text = text.replace("days = 365 }", f"days = {trigger_days} }}")
    text = text.replace("score_below = 750", f"score_below = {below}")
    return compile_policy(parse_policy(text))["person"]


records_st = st.lists(
    st.builds(Record, day=st.integers(0, DAYS - 1), kind=st.sampled_from(sorted(POINTS)),
              true=st.booleans()),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(records=records_st, window=st.integers(1, 40),
       clamp=st.none() | st.tuples(st.integers(700, 990), st.integers(1000, 1100)),
       trigger_days=st.integers(1, 30), below=st.integers(850, 1000))
def test_score_and_lists_match_oracle(records, window, clamp, trigger_days, below):
    plan = _plan(window, clamp, trigger_days, below)
    h = subject_history(plan, records, DAYS)
    for t in range(DAYS):
        def counted(r, t=t, only_true=False):
            return r.day <= t < r.day + window and (r.true or not only_true)

        raw = 1000 + sum(POINTS[r.kind] for r in records if counted(r))
        raw_true = 1000 + sum(POINTS[r.kind] for r in records if counted(r, only_true=True))
        score = min(max(raw, clamp[0]), clamp[1]) if clamp else raw
        score_true = min(max(raw_true, clamp[0]), clamp[1]) if clamp else raw_true
        assert h.score[t] == score, (t, records)
        court = any(r.kind == "court_judgment_default" and r.day <= t < r.day + trigger_days
                    for r in records)
        court_true = any(r.kind == "court_judgment_default" and r.true and
                         r.day <= t < r.day + trigger_days for r in records)
        black = score < below or court
        black_true = score_true < below or court_true
        red = score >= 1050 and not black
        assert ("blacklist" in h.lists[t]) == black, (t, score, records)
        assert ("redlist" in h.lists[t]) == red
        assert ("blacklist" in h.lists_without_false[t]) == (black and black_true)
        grade = next(g for g, lo in (("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850),
                                     ("C", 600), ("D", -10**9)) if score >= lo)
        assert h.grade[t] == grade


DRIVING = scenario_path("driving-points").read_text(encoding="utf-8")


@settings(max_examples=40, deadline=None)
@given(days=st.lists(st.integers(0, 400), max_size=12))
def test_totting_up_ban_clears_points(days):
    """12+ points in the window start a 183-day ban and wipe the points (driving-points)."""
    plan = compile_policy(parse_policy(DRIVING))["person"]
    horizon = 600
    records = [Record(d, "mobile_phone_use") for d in days]  # 6 points each
    h = subject_history(plan, records, horizon)
    ban_until = -1
    active: list[int] = []
    for t in range(horizon):
        active = [d for d in active if d + 1095 > t] + [d for d in days if d == t]
        points = 6 * len(active)
        if t > ban_until and points >= 12:
            ban_until = t + 182
            active = []
            points = 0
        assert ("disqualified" in h.lists[t]) == (t <= ban_until), t
        assert h.score[t] == min(points, 100), t
