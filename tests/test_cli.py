"""The command line: outputs, exit status 2 with a clear message and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcredit.cli import app

runner = CliRunner()
REFERENCE_NAMES = {
    "mean_score", "grades", "blacklisted", "redlisted", "wrongfully_blacklisted",
    "ever_blacklisted", "children_restricted", "records_per_adult", "false_record_share",
    "company_grades", "mean_tax_multiplier", "restaurants_grade_d",
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "socialcredit.cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_simulate_reference_writes_the_run(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "reference", "--population", "5000", "--days", "365",
                              "--seed", "4", "--out", str(out), "--ledger", "--quiet"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert set(s) == REFERENCE_NAMES
    assert set(s["grades"]) == {"AAA", "AA", "A", "B", "C", "D"}
    assert set(s["company_grades"]) == {"A", "B", "C", "D"}
    assert all(0 <= v <= 1 for v in s["grades"].values())
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["seed"] == 4
    assert manifest["persons"] == 5000
    assert manifest["companies"] == 250
    assert manifest["policy"]["meta"]["name"] == "reference"
    metrics = pq.read_table(out / "metrics.parquet")
    assert metrics.num_rows == 365
    for col in ("person_score_p50", "person_grade_D", "person_list_blacklist",
                "in_force_no_flights", "person_false_records_camera",
                "person_wrongful_blacklist", "children_restricted", "company_grade_D"):
        assert col in metrics.column_names, col
    ledger = pq.read_table(out / "ledger.parquet")
    assert ledger.num_rows == manifest["records"] == manifest["ledger_rows"]
    assert not list(out.glob(".staging-*"))


def test_bad_policy_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta\n", encoding="utf-8")
    res = cli("simulate", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "not valid TOML" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.parametrize("args", [
    ["validate", "/nonexistent/policy.toml"],
    ["explain", "no-such-scenario"],
    ["simulate", "reference", "--population", "0"],
    ["simulate", "reference", "--days", "-3"],
])
def test_user_errors_exit_2(args, tmp_path):
    res = cli(*args, *(["--out", str(tmp_path / "o")] if args[0] == "simulate" else []))
    assert res.returncode == 2, res.stderr
    assert "error:" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_scenario_lists_the_real_ones():
    res = runner.invoke(app, ["explain", "nope"])
    assert res.exit_code == 2
    assert "available: driving-points, food-hygiene, reference, seed" in res.output


def test_scenarios_lists_all_four():
    res = runner.invoke(app, ["scenarios"])
    for name in ("reference", "seed", "driving-points", "food-hygiene"):
        assert name in res.output


def test_explain_and_validate():
    res = runner.invoke(app, ["explain", "reference"])
    assert res.exit_code == 0
    assert "court_judgment_default record, for 365 days whatever the score" in res.output
    assert "children of persons on blacklist" in res.output
    res = runner.invoke(app, ["validate", "seed"])
    assert res.exit_code == 0
    assert "valid policy 'seed'" in res.output


def test_schema_command_prints_json():
    res = runner.invoke(app, ["schema"])
    assert json.loads(res.output)["title"] == "socialcredit policy"


def test_unwritable_out_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("simulate", "reference", "-n", "100", "-d", "5", "--out", str(blocker / "run"))
    assert res.returncode == 2
    assert "cannot create the run directory" in res.stderr


@pytest.mark.parametrize("name", ["seed", "driving-points", "food-hygiene"])
def test_other_scenarios_run(name, tmp_path):
    out = tmp_path / name
    res = runner.invoke(app, ["simulate", name, "-n", "20000", "-d", "200", "--out", str(out),
                              "-q"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s
    d = json.loads((out / "details.json").read_text())
    assert "measures_in_force" in d
    assert Path(out / "metrics.parquet").exists()
