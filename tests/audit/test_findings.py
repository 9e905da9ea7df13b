"""Each finding type on a policy of its own; the built-in scenarios as controls."""

from __future__ import annotations

import pytest

from socialcredit.audit import ARTICLES, FINDING_TYPES, audit
from socialcredit.scenarios import load_scenario
from tests.audit.policies import VARIANTS, policy

ART5 = "AI Act Art. 5(1)(c)"


def test_the_clean_policy_has_no_finding():
    a = audit(policy())
    assert a.findings == ()
    assert set(a.verdicts.values()) == {"clear"}
    assert not a.prohibited


def test_every_finding_type_has_a_policy():
    assert set(VARIANTS) == set(FINDING_TYPES)


@pytest.mark.parametrize("kind", sorted(VARIANTS))
def test_each_policy_triggers_exactly_its_finding(kind):
    a = audit(policy(VARIANTS[kind]))
    assert {f.type for f in a.findings} == {kind}, [f.id for f in a.findings]
    for f in a.findings:
        assert f.path, f.id
        assert a.verdicts[f.article] == ("indicator" if any(
            g.level == "indicator" for g in a.findings if g.article == f.article)
            else "review")
    prohibited = kind in ("cross_context", "disproportion", "third_parties", "everyone")
    assert a.prohibited is prohibited
    assert a.exit_code == (1 if any(v == "indicator" for v in a.verdicts.values())
                           else 3 if kind == "missing_facts" else 0)


def test_a_cross_context_path_is_proved_by_the_rule_engine():
    f, = audit(policy(VARIANTS["cross_context"])).findings
    assert (f.behaviour, f.measure) == ("speeding", "driving_ban")
    assert f.facts["acts"] == 3  # 100 - 3 x 5 = 85 < 90
    assert "3 such acts" in f.path[1]
    assert "on banned" in f.path[1]


def test_privileges_in_unrelated_contexts_need_review_only():
    a = audit(policy({
        "behaviours.0": {"name": "volunteering", "kind": "merit", "rate": 0.01,
                         "points": 5, "channel": "police"},
        "lists.0": {"name": "red", "type": "red", "score_at_least": 110},
        "measures.0": {"name": "easy_loans", "type": "privilege", "service": "loan",
                       "list": "red", "context": "finance"}}))
    assert [(f.type, f.level) for f in a.findings] == [("cross_context", "review")]
    assert a.verdicts[ART5] == "review"


def test_a_sanction_everybody_has_falls_on_people_who_did_nothing():
    a = audit(policy({"lists.0.score_below": 101}))
    assert [f.id for f in a.findings] == ["everyone/driving_ban"]
    assert a.prohibited


def test_a_sanction_at_rest_is_its_own_finding_not_blamed_on_a_merit():
    # base 500, blacklisted below 600: everyone is, whatever they do; volunteering
    # (civic life) lifts a subject out of it, it does not bring it
    data = {"meta": {"name": "presumed_guilty"}, "regions": [{"name": "r"}],
            "channels": {"reg": {"context": "civic_life"}},
            "behaviours": [{"name": "volunteering", "kind": "merit", "rate": 0.01,
                            "points": 5, "channel": "reg"}],
            "person_score": {"base": 500, "window_days": 365,
                             "grades": [{"name": "ok", "min": 600}, {"name": "low"}]},
            "lists": [{"name": "bl", "score_below": 600, "appeal": "x"}],
            "measures": [{"name": "no_flights", "type": "sanction", "service": "flight",
                          "list": "bl", "context": "transport", "severity": "significant",
                          "legal_basis": "x"}]}
    from socialcredit.policy import policy_from_dict

    a = audit(policy_from_dict(data))
    assert [(f.id, f.level, f.article, f.behaviour) for f in a.findings] == [
        ("everyone/no_flights", "indicator", ART5, None)]
    assert a.prohibited
    assert a.exit_code == 1
    assert a.measures[0].at_rest
    assert a.measures[0].brought_by == ()
    # with no behaviour at all, the same
    data["behaviours"] = []
    a = audit(policy_from_dict(data))
    assert [f.id for f in a.findings] == ["everyone/no_flights"]
    assert a.verdicts[ART5] == "indicator"


def test_an_unreachable_measure_has_no_finding():
    # the clamp keeps the score at 950 or more: no combination of records brings a
    # listing below 900, whatever the sign of their points
    a = audit(policy({"person_score.clamp": [950, 1000], "person_score.base": 1000,
                      "person_score.grades": [{"name": "ok", "min": 900}, {"name": "low"}],
                      "lists.0.score_below": 900, "measures.0.context": "transport",
                      "channels.police.automated": True,
                      "channels.police.counts_before_review": True,
                      "behaviours.1": {"name": "jaywalking", "kind": "violation",
                                       "rate": 0.01, "points": -30, "channel": "police",
                                       "gravity": "minor"}}))
    assert a.findings == (), [f.id for f in a.findings]
    assert a.exit_code == 0
    assert a.measures[0].fed_by == ()


def test_records_that_bring_a_measure_only_together_are_replayed():
    # a 3-day window: alone, 3 acts of -4 leave 88 (listed); of -3, 91 (not); the
    # combination of both kinds each day lists: both feed it, one alone
    a = audit(policy({"person_score.window_days": 3, "behaviours.0.points": -3,
                      "measures.0.context": "transport",
                      "behaviours.1": {"name": "jaywalking", "kind": "violation",
                                       "rate": 0.01, "points": -4, "channel": "police",
                                       "gravity": "moderate"}}))
    cross = {f.behaviour: f.facts["acts"] for f in a.findings if f.type == "cross_context"}
    assert cross == {"jaywalking": 3, "speeding": None}


def test_automated_records_together_bring_a_measure_none_brings_alone():
    # a 3-day window: 3 acts of -3 points leave 91, not below 90; two kinds a day do
    a = audit(policy({
        "person_score.window_days": 3,
        "channels.police.automated": True, "channels.police.counts_before_review": True,
        "behaviours.0.points": -3,
        "behaviours.1": {"name": "jaywalking", "kind": "violation", "rate": 0.01,
                         "points": -3, "channel": "police", "gravity": "moderate"}}))
    auto = [f for f in a.findings if f.type == "automated"]
    assert len(auto) == 1
    assert auto[0].facts["behaviours"] == ["jaywalking", "speeding"]
    assert auto[0].behaviour is None


def test_driving_points_and_food_hygiene_are_not_flagged():
    for name in ("driving-points", "food-hygiene"):
        a = audit(load_scenario(name))
        assert not a.prohibited, [f.id for f in a.findings]
        assert a.verdicts[ART5] == "clear"


def test_seed_is_flagged_with_the_paths_of_the_issue():
    a = audit(load_scenario("seed"))
    assert a.prohibited
    cross = {(f.behaviour, f.measure): f.facts["acts"] for f in a.findings
             if f.type == "cross_context"}
    # 41 phone records or 81 smoking records in a year close flights, civil-service jobs,
    # online purchases, good schools and the children's school choice
    for measure in ("no_flights_score", "jobs_closed", "online_purchases_blocked",
                    "no_good_schools", "children_no_school_choice_score"):
        assert cross[("unlicensed_phone_use", measure)] == 41
        assert cross[("smoking_in_nonsmoking_area", measure)] == 81
    children = {f.measure for f in a.findings if f.type == "third_parties"}
    assert children == {"children_no_school_choice", "children_no_school_choice_score"}
    sanctions = [m for m in a.measures if m.subject == "person" and m.type == "sanction"]
    assert len(sanctions) == 13
    crossing = {f.measure for f in a.findings if f.type == "cross_context"
                and f.level == "indicator"}
    assert len(crossing) == 12  # all but the rail ban, fed by passengers' misconduct
    auto = {f.measure for f in a.findings if f.type == "automated"}
    assert auto == {"no_flights_score", "jobs_closed", "online_purchases_blocked",
                    "no_good_schools", "children_no_school_choice_score"}
    assert {f.measure for f in a.findings if f.type == "disproportion"} == auto
    assert a.verdicts["GDPR Art. 22"] == "indicator"


def test_reference_is_flagged():
    assert audit(load_scenario("reference")).prohibited


def test_the_json_holds_every_finding_and_the_disclaimer():
    a = audit(load_scenario("seed"))
    d = a.to_dict()
    assert "not legal advice" in d["disclaimer"]
    assert set(d["verdicts"]) == set(ARTICLES)
    assert len(d["findings"]) == len(a.findings)
    assert d["prohibited_practice_indicators"] is True


def test_repair_of_a_trigger_is_no_way_out_of_a_listing_by_score():
    trigger = {"lists.0.appeal": "",
               "behaviours.1": {"name": "default", "kind": "violation", "rate": 0.01,
                                "points": -1, "channel": "police", "gravity": "serious"},
               "lists.0.triggers": [{"kind": "default", "days": 30, "repair_after_days": 5,
                                     "repair_probability": 0.5}]}
    a = audit(policy(trigger))
    f, = [f for f in a.findings if f.type == "no_way_out"]
    assert f.id == "no_way_out/banned"
    assert "by score" in f.title
    # a list by triggers alone: repair is a way out
    a = audit(policy({**trigger, "lists.0.score_below": None}))
    assert not [f for f in a.findings if f.type == "no_way_out"]


def test_one_act_leaves_the_subject():
    f, = audit(policy({**VARIANTS["cross_context"], "behaviours.0.points": -20})).findings
    assert f.facts["acts"] == 1
    assert f.path[1].startswith("1 such act, one a day within 30 days, leaves the subject")
    assert "1 act alone" in f.title


def test_a_search_not_determined_cannot_be_judged_never_clear(monkeypatch):
    import socialcredit.audit._least as least

    # 1 point off 100 a day, banned below 80 (21 acts) and, by grade, never above 200
    changes = {"behaviours.0.points": -1, "person_score.window_days": 60,
               "lists.0.score_below": 80}
    assert audit(policy(changes)).exit_code == 0
    monkeypatch.setattr(least, "MAX_RECORDS", 80)
    a = audit(policy(changes))
    m, = a.measures
    assert (m.acts, m.exact) == (21, False)   # an upper bound, said so
    assert a.findings == ()
    assert a.exit_code == 0
    # a measure the cut-short search cannot rule out is not "none": cannot judge
    a = audit(policy({**changes, "lists.1": {"name": "top", "score_at_least": 200},
                      "measures.1": {"name": "no_loans", "type": "sanction",
                                     "service": "loan", "list": "top",
                                     "context": "finance", "severity": "significant",
                                     "legal_basis": "x"}}))
    assert a.exit_code == 3
    assert a.verdict_text(ART5).startswith("cannot judge: whether speeding brings no_loans"
                                           " is not determined within")
