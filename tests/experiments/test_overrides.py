"""Overrides: Policy.with_overrides and `simulate --set`, on every built-in scenario."""

from __future__ import annotations

import json
import tomllib

import pytest
from typer.testing import CliRunner

from socialcredit import PolicyError, list_scenarios, load_scenario
from socialcredit.cli import app
from socialcredit.policy import parse_policy
from socialcredit.policy._overrides import parse_assignment, parse_value, split_path

runner = CliRunner()


def test_paths_reach_tables_maps_and_named_elements():
    p = load_scenario("reference")
    q = p.with_overrides({
        "channels.camera.misattribution": 0.07,
        "behaviours.smoking_in_nonsmoking_area.rate": 0.01,
        "lists.blacklist.score_below": 700,
        "regions.city-3.coverage.camera": 0.9,
        "regions.0.weight": 2.0,
    })
    assert q.channels["camera"].misattribution == 0.07
    assert next(b for b in q.behaviours if b.name == "smoking_in_nonsmoking_area").rate == 0.01
    assert q.lists[0].score_below == 700
    assert q.regions[3].coverage == {"camera": 0.9}
    assert q.regions[0].weight == 2.0
    # the original is untouched (policies are values)
    assert p.channels["camera"].misattribution == 0.05
    assert p.lists[0].score_below == 750
    # nothing else changed
    same = q.model_dump()
    base = p.model_dump()
    for k in base:
        if k not in ("channels", "behaviours", "lists", "regions"):
            assert same[k] == base[k], k


def test_a_field_left_at_its_default_can_be_set():
    p = load_scenario("reference")
    assert p.channels["camera"].false_positive is None
    q = p.with_overrides({"channels.camera.false_positive.rate": 0.001,
                          "channels.camera.false_positive.kind": "smoking_in_nonsmoking_area"})
    assert q.channels["camera"].false_positive.rate == 0.001


@pytest.mark.parametrize(("overrides", "words"), [
    ({"channels.camra.misattribution": 0.1}, ["channels.camra.misattribution", "camera"]),
    ({"channels.camera.foo": 1}, ["channels.camera has no 'foo'", "misattribution"]),
    ({"regions.city-99.weight": 1}, ["regions.city-99.weight", "city-0"]),
    ({"lists.blacklist": 1}, ["names a whole element"]),
    ({"lists.blacklist.score_below.x": 1}, ["is a value (750)"]),
    ({"a..b": 1}, ["not a dotted path"]),
    ({"channels.new.detection": 1}, ["channels has no 'new'"]),
])
def test_a_path_that_names_nothing_is_refused_saying_what_is_there(overrides, words):
    with pytest.raises(PolicyError) as exc:
        load_scenario("reference").with_overrides(overrides)
    for w in words:
        assert w in str(exc.value)


def test_an_invalid_value_is_refused_at_its_path_and_every_problem_at_once():
    with pytest.raises(PolicyError) as exc:
        load_scenario("reference").with_overrides({
            "channels.camera.misattribution": 2, "meta.name": 5,
            "regions.city-1.coverage.nochan": 0.5})
    text = str(exc.value)
    assert "3 problem(s)" in text
    assert "channels.camera.misattribution" in text
    assert "[0, 1]" in text
    assert "meta.name" in text
    assert "regions[1].coverage.nochan" in text


@pytest.mark.parametrize("name", list_scenarios())
def test_every_scenario_round_trips_through_overrides(name):
    p = load_scenario(name)
    assert p.with_overrides({}) == p
    assert p.with_overrides({"run.seed": p.run.seed}) == p
    q = p.with_overrides({"run.seed": 12345, "regions.0.weight": 7.5})
    assert q.run.seed == 12345
    assert q.regions[0].weight == 7.5


def test_values_and_paths_are_read_as_toml():
    assert parse_value("0.2") == 0.2
    assert parse_value("750") == 750
    assert parse_value("true") is True
    assert parse_value('"a b"') == "a b"
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("same_region") == "same_region"  # a bare word is a string
    assert split_path('regions."City 3".weight') == ["regions", "City 3", "weight"]
    assert parse_assignment("lists.blacklist.score_below=700") == (
        "lists.blacklist.score_below", 700)
    for bad in ("novalue", "=3", "a.b="):
        with pytest.raises(PolicyError):
            parse_assignment(bad)


def test_simulate_set_records_the_overrides_and_the_policy_it_ran(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "reference", "-n", "2000", "-d", "20", "-q",
                              "--set", "channels.camera.misattribution=0.07",
                              "--set", "lists.blacklist.score_below=700", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["overrides"] == {"channels.camera.misattribution": 0.07,
                                     "lists.blacklist.score_below": 700}
    assert manifest["policy"]["channels"]["camera"]["misattribution"] == 0.07
    text = (out / "policy.toml").read_text()
    assert "channels.camera.misattribution = 0.07" in text  # the header says what changed
    ran = parse_policy(text)
    assert ran == load_scenario("reference").with_overrides(manifest["overrides"])
    assert tomllib.loads(text)["lists"][0]["score_below"] == 700


def test_simulate_set_with_a_bad_path_fails_cleanly_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "reference", "-n", "200", "-d", "5", "-q",
                              "--set", "channels.camera.misattribution=7",
                              "--set", "nothing=1", "--out", str(out)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "nothing" in res.output
    assert not out.exists()


def test_compare_shows_an_override_as_a_policy_difference(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, extra in ((a, []), (b, ["--set", "channels.camera.misattribution=0.2"])):
        res = runner.invoke(app, ["simulate", "reference", "-n", "1000", "-d", "10", "-q",
                                  "--out", str(d), *extra])
        assert res.exit_code == 0, res.output
    html = tmp_path / "c.html"
    res = runner.invoke(app, ["compare", str(a), str(b), "--out", str(html)])
    assert res.exit_code == 0, res.output
    assert "channels.camera.misattribution" in html.read_text()


@pytest.mark.parametrize("overrides", [
    {"channels.camera.misattribution": 0.1, 'channels."camera".misattribution': 0.3},
    {"regions.0.weight": 2.0, "regions.city-0.weight": 3.0},
])
def test_two_spellings_of_one_value_are_refused(overrides):
    with pytest.raises(PolicyError, match="names the same value"):
        load_scenario("reference").with_overrides(overrides)


def test_a_path_given_twice_on_the_command_line_is_refused(tmp_path):
    res = runner.invoke(app, ["simulate", "reference", "-n", "200", "-d", "5", "-q",
                              "--set", "run.seed=1", "--set", "run.seed=2",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "given twice" in res.output


def test_a_long_path_is_cut_in_messages():
    with pytest.raises(PolicyError) as exc:
        load_scenario("reference").with_overrides({"channels." + "x" * 10_000: 1})
    assert len(str(exc.value)) < 600


def test_a_run_is_never_written_inside_another_run_directory(tmp_path):
    out = tmp_path / "set"
    res = runner.invoke(app, ["simulate", "reference", "-n", "300", "-d", "5", "-q",
                              "--seeds", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    before = (out / "seed-1" / "run.json").read_text()
    res = runner.invoke(app, ["simulate", "reference", "-n", "300", "-d", "5", "-q",
                              "--out", str(out / "seed-1")])
    assert res.exit_code == 2
    assert "inside the run directory" in res.output
    assert (out / "seed-1" / "run.json").read_text() == before
