"""A plain, time-stepped NumPy implementation of REFERENCE-SCENARIO.md, written from the
text alone (no engine code, its own random streams). It is the simple reference kept
beside the fast engine: tests hold the engine's statistics against it."""

from __future__ import annotations

import numpy as np

BEHAVIOURS = [  # name, merit?, rate, points, channel
    ("volunteering", True, 1 / 30, 5, "registry"),
    ("blood_donation", True, 1 / 180, 15, "registry"),
    ("smoking_in_nonsmoking_area", False, 1 / 20, -5, "camera"),
    ("running_red_light", False, 1 / 30, -10, "camera"),
    ("excessive_gaming_purchase", False, 1 / 60, -5, "online"),
    ("spreading_rumors", False, 1 / 90, -20, "online"),
    ("late_debt_payment", False, 1 / 150, -30, "financial"),
    ("court_judgment_default", False, 1 / 20000, -100, "court"),
]
GRADES = [("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600), ("D", -10**9)]


def run(n: int, days: int = 365, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    child = rng.random(n) < 0.2
    city = rng.integers(0, 10, n)
    cov = 0.10 + 0.08 * np.arange(10)
    adults = np.flatnonzero(~child)
    na = adults.size
    acity = city[adults]
    r = rng.lognormal(-0.18, 0.6, na)
    g = rng.lognormal(-0.32, 0.8, na)
    by_city = [np.flatnonzero(acity == k) for k in range(10)]
    kids = np.flatnonzero(child)
    guardian = np.empty(kids.size, np.int64)  # index into adults
    for k in range(10):
        mine = city[kids] == k
        guardian[mine] = by_city[k][rng.integers(0, by_city[k].size, mine.sum())]
    c = cov[acity]
    daily = np.zeros((days, na), np.int32)  # points recorded per adult and day
    daily_false = np.zeros((days, na), np.int32)
    court_day = np.full(na, -10**6)
    court_day_true = np.full(na, -10**6)
    counts = {b[0]: 0 for b in BEHAVIOURS}
    false_records = 0
    all_records = 0
    ever = np.zeros(na, bool)
    for t in range(days):
        for name, merit, lam, pts, ch in BEHAVIOURS:
            p = np.minimum(1, lam * (g if merit else r))
            if ch == "camera":
                p = p * (1 - 0.5 * c)
            act = rng.random(na) < p
            who = np.flatnonzero(act)
            if ch == "camera":
                who = who[rng.random(who.size) < c[who] * 0.9]
                mis = rng.random(who.size) < 0.05
                targets = who.copy()
                for i in np.flatnonzero(mis):
                    pool = by_city[acity[who[i]]]
                    j = pool[rng.integers(0, pool.size - 1)]
                    targets[i] = j if j != who[i] else pool[-1] if pool[-1] != who[i] else pool[0]
                np.add.at(daily[t], targets, pts)
                np.add.at(daily_false[t], targets[mis], pts)
                false_records += int(mis.sum())
            elif ch == "online":
                who = who[rng.random(who.size) < 0.6]
                np.add.at(daily[t], who, pts)
            else:
                np.add.at(daily[t], who, pts)
            if name == "court_judgment_default":
                court_day[who] = t
                court_day_true[who] = t
            counts[name] += who.size
            all_records += who.size
        fp = np.flatnonzero(rng.random(na) < 1 / 2000)
        np.add.at(daily[t], fp, -20)
        np.add.at(daily_false[t], fp, -20)
        counts["spreading_rumors"] += fp.size
        false_records += fp.size
        all_records += fp.size
        lo = max(0, t - 179)
        score = 1000 + daily[lo:t + 1].sum(axis=0)
        black = (score < 750) | (t - court_day <= 364)
        ever |= black
    true_score = score - daily_false[lo:t + 1].sum(axis=0)
    black_true = (true_score < 750) | (t - court_day_true <= 364)
    red = (score >= 1050) & ~black
    out = {"mean_score": float(score.mean())}
    grades = {}
    prev = 10**9
    for name, lo_ in GRADES:
        grades[name] = float(((score >= lo_) & (score < prev)).mean())
        prev = lo_
    out["grades"] = grades
    out["blacklisted"] = float(black.mean())
    out["redlisted"] = float(red.mean())
    out["wrongfully_blacklisted"] = float((black & ~black_true).mean())
    out["ever_blacklisted"] = float(ever.mean())
    out["children_restricted"] = float(black[guardian].mean())
    out["records_per_adult"] = {k: v / na for k, v in counts.items()}
    out["false_record_share"] = false_records / all_records
    # companies
    m = round(n / 20)
    q = rng.beta(2, 8, m)
    rest = rng.random(m) < 0.3
    cs = np.full(m, 100)
    for _t in range(days):
        pay = rng.random(m) < 1 / 30
        late = rng.random(m) < q
        cs += np.where(pay, np.where(late, -10, 2), 0)
        insp = rest & (rng.random(m) < 1 / 60)
        fail = rng.random(m) < q
        cs += np.where(insp, np.where(fail, -30, 10), 0)
    cg = np.select([cs >= 110, cs >= 90, cs >= 60], ["A", "B", "C"], "D")
    out["company_grades"] = {k: float((cg == k).mean()) for k in "ABCD"}
    tax = {"A": 0.95, "B": 1.0, "C": 1.1, "D": 1.25}
    out["mean_tax_multiplier"] = float(np.mean([tax[x] for x in cg]))
    out["restaurants_grade_d"] = float((cg[rest] == "D").mean())
    return out
