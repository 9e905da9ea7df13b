"""Property tests of policy validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit import PolicyError
from socialcredit.policy import policy_from_dict

BASE = {
    "meta": {"name": "p"},
    "regions": [{"name": "r"}],
    "channels": {"registry": {}},
    "behaviours": [{"name": "b", "kind": "merit", "rate": 0.1, "points": 1,
                    "channel": "registry"}],
}


def with_grades(mins: list[int | None]) -> dict:
    grades = [{"name": f"g{i}", **({"min": m} if m is not None else {})}
              for i, m in enumerate(mins)]
    return {**BASE, "person_score": {"base": 0, "window_days": 10, "grades": grades}}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=6))
def test_grade_bands_valid_iff_strictly_falling(mins):
    data = with_grades([*mins, None])
    falling = all(a > b for a, b in zip(mins, mins[1:], strict=False))
    if falling:
        assert policy_from_dict(data).person_score.grade_names()[-1] == f"g{len(mins)}"
    else:
        with pytest.raises(PolicyError, match="grade bands out of order"):
            policy_from_dict(data)


@settings(max_examples=80, deadline=None)
@given(st.floats(-2, 3, allow_nan=False))
def test_probability_must_lie_in_unit_interval(p):
    data = {**with_grades([None]), "channels": {"registry": {"detection": p}}}
    if 0 <= p <= 1:
        assert policy_from_dict(data).channels["registry"].detection == p
    else:
        with pytest.raises(PolicyError, match=r"channels\.registry\.detection"):
            policy_from_dict(data)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 1000))
def test_rates_accept_exact_fractions(a, b):
    a, b = min(a, b), max(a, b)  # a rate is a daily probability
    data = with_grades([None])
    data["behaviours"] = [{**BASE["behaviours"][0], "rate": f"{a}/{b}"}]
    assert policy_from_dict(data).behaviours[0].rate == pytest.approx(a / b)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=10).filter(lambda s: s not in ("registry",)))
def test_unknown_channel_is_named(name):
    data = with_grades([None])
    data["behaviours"] = [{**BASE["behaviours"][0], "channel": name}]
    with pytest.raises(PolicyError, match="channel"):
        policy_from_dict(data)
