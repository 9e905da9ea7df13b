"""Figures from a run (`audit --run DIR`, `--simulate N`): whom each finding touches and
the wrongful listings behind each measure, held to the run's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcredit.audit import audit, result_figures, run_figures
from socialcredit.cli import app
from socialcredit.engine import details, simulate
from socialcredit.scenarios import load_scenario, scenario_path

runner = CliRunner()
N = 3000


def _simulate(out: Path, *args: str) -> Path:
    res = runner.invoke(app, ["simulate", *args, "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    return _simulate(tmp_path_factory.mktemp("audit") / "seed", "seed", "-n", str(N))


def _audit_json(*args: str) -> dict:
    res = runner.invoke(app, ["audit", *args, "--json"])
    assert res.exit_code == 1, res.output  # seed: prohibited-practice indicators
    return json.loads(res.output)


def _files(run: Path) -> tuple[dict, dict, dict]:
    d = json.loads((run / "details.json").read_text())
    metrics = pq.read_table(run / "metrics.parquet").to_pydict()
    return d, metrics, json.loads((run / "run.json").read_text())


def test_each_finding_touches_what_the_run_says(seed_run):
    d, metrics, manifest = _files(seed_run)
    out = _audit_json("seed", "--run", str(seed_run))
    policy = load_scenario("seed")
    measures = {m.name: m for m in policy.measures}
    assert out["run"]["persons"] == manifest["persons"] == N
    assert out["run"]["children"] == manifest["children"]
    checked = set()
    for f in out["findings"]:
        t = f["figures"]
        if f["measure"] is not None:
            m = measures[f["measure"]]
            n = d["measures_in_force"][m.name]
            assert (t["adults"], t["children"]) == ((0, n) if m.reaches == "children"
                                                    else (n, 0)), f["id"]
            assert t["peak"] == max(metrics[f"in_force_{m.name}"])
            assert t["denied_adults"] == d["denied"][f"persons_{m.service}"]
            assert t["denied_children"] == d["denied"][f"children_{m.service}"]
            if m.list is not None:
                on = d["person"]["lists"][m.list]
                assert (t["listed"], t["wrongfully_listed"]) == (on["listed"],
                                                                 on["wrongfully_listed"])
                assert t["wrongfully_listed"] == metrics[f"person_wrongful_{m.list}"][-1]
            else:
                assert t["wrongfully_listed"] is None
            checked.add(f["type"])
        elif f["list"] is not None:
            on = d["person"]["lists"][f["list"]]
            assert t["adults"] == on["listed"], f["id"]
            assert t["wrongfully_listed"] == on["wrongfully_listed"]
            assert t["peak_wrongfully_listed"] == max(metrics[f"person_wrongful_{f['list']}"])
            checked.add(f["type"])
    assert checked >= {"cross_context", "disproportion", "third_parties", "automated",
                       "no_way_out", "legal_basis"}
    # children, from the measures that reach them, and the wrongful listings per list
    third = [f for f in out["findings"] if f["type"] == "third_parties"]
    assert third
    assert all(f["figures"]["children"] == d["measures_in_force"][f["measure"]]
               for f in third)
    assert sum(f["figures"]["children"] for f in third) > 0
    for name, x in out["run"]["lists"].items():
        assert x["wrongfully_listed"] == d[x["subject"]]["lists"][name]["wrongfully_listed"]
        assert x["peak_wrongfully_listed"] == max(metrics[f"{x['subject']}_wrongful_{name}"])
        assert x["measures"] == [m.name for m in policy.measures if m.list == name]
    assert any(x["wrongfully_listed"] for x in out["run"]["lists"].values())


def test_the_terminal_and_explain_say_it(seed_run):
    d, _, _ = _files(seed_run)
    n = d["measures_in_force"]["jobs_closed"]
    wrong = d["person"]["lists"]["blacklist"]["wrongfully_listed"]
    res = runner.invoke(app, ["audit", "seed", "--run", str(seed_run)])
    assert res.exit_code == 1, res.output
    assert f"Figures from the run ({seed_run}: policy seed, {N:,} persons" in res.output
    line = next(x for x in res.output.splitlines() if "disproportion/jobs_closed" in x)
    assert f"[run: {n:,} adults, 0 children; {wrong:,} adults wrongfully on blacklist]" \
        in line
    kids = d["measures_in_force"]["children_no_school_choice"]
    line = next(x for x in res.output.splitlines()
                if "third_parties/children_no_school_choice " in x)
    assert f"[run: 0 adults, {kids:,} children" in line
    # the wrongful listings behind a children's measure are adults': it says so
    kids = d["measures_in_force"]["children_no_school_choice_score"]
    line = next(x for x in res.output.splitlines()
                if "third_parties/children_no_school_choice_score " in x)
    assert (f"[run: 0 adults, {kids:,} children; {wrong:,} adults wrongfully on"
            " blacklist]") in line
    res = runner.invoke(app, ["audit", "seed", "--run", str(seed_run), "--explain",
                              "disproportion/jobs_closed"])
    assert res.exit_code == 1
    assert (f"In the run: jobs_closed is in force on {n:,} adults at the end of the run"
            in res.output)
    assert f"{wrong:,} of the " in res.output


def test_simulate_here_gives_the_figures_of_the_same_run(seed_run):
    a = _audit_json("seed", "--run", str(seed_run))
    b = _audit_json("seed", "--simulate", str(N))
    assert b["run"]["source"] == "simulated here"
    for key in ("measures", "lists", "published", "children_restricted", "persons",
                "adults", "children", "seeds"):
        assert a["run"][key] == b["run"][key], key
    assert [f["figures"] for f in a["findings"]] == [f["figures"] for f in b["findings"]]
    # and through the Python API, from the run simulated in process
    policy = load_scenario("seed")
    run = simulate(policy, N, subjects=False)
    fig = result_figures(run, "here")
    assert {k: v.in_force for k, v in fig.measures.items()} == {
        k: v for k, v in details(run)["measures_in_force"].items()}
    assert audit(policy, fig).to_dict()["run"]["measures"] == a["run"]["measures"]


def test_a_run_on_an_executor_reads_the_same(seed_run, tmp_path):
    other = _simulate(tmp_path / "inline", "seed", "-n", str(N), "--executor", "inline")
    a = _audit_json("seed", "--run", str(seed_run))
    b = _audit_json("--run", str(other))
    assert a["run"]["measures"] == b["run"]["measures"]
    assert a["run"]["lists"] == b["run"]["lists"]


def test_the_run_alone_is_audited_with_its_own_policy(seed_run):
    policy, fig = run_figures(seed_run)
    assert policy.meta.name == "seed"
    res = runner.invoke(app, ["audit", "--run", str(seed_run)])
    assert res.exit_code == 1, res.output
    assert "prohibited-practice indicators" in res.output
    # the same policy given as its file is accepted
    res = runner.invoke(app, ["audit", str(scenario_path("seed")), "--run", str(seed_run)])
    assert res.exit_code == 1, res.output


def test_a_run_of_another_policy_is_refused(seed_run, tmp_path):
    res = runner.invoke(app, ["audit", "reference", "--run", str(seed_run)])
    assert res.exit_code == 2
    assert "did not run the policy given (reference): it ran 'seed'" in res.output
    assert "Traceback" not in res.output
    # a run of the policy with an override is another policy
    changed = _simulate(tmp_path / "set", "seed", "-n", "500", "-d", "30",
                        "--set", "lists.blacklist.score_below=700")
    res = runner.invoke(app, ["audit", "seed", "--run", str(changed)])
    assert res.exit_code == 2
    assert "lists[blacklist].score_below" in res.output
    assert "--set lists.blacklist.score_below" in res.output


def test_bad_uses_exit_2(seed_run, tmp_path):
    for args, says in (
            (["--run", str(tmp_path / "nope")], "no such run directory"),
            ([], "name a policy"),
            (["seed", "--simulate", "0"], "at least 1 person"),
            (["seed", "--simulate", "10", "--run", str(seed_run)], "not both")):
        res = runner.invoke(app, ["audit", *args])
        assert res.exit_code == 2, (args, res.output)
        assert says in res.output
        assert "Traceback" not in res.output
