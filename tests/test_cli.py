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
    ledger = pq.read_table(out / "ledger")  # a dataset: a part per block and type
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


def test_version_and_fast_help_without_numba():
    """--help and --version answer at once: importing the CLI loads no Numba, SciPy or
    pydantic (they came with every command before: about 1 s and 195 MB)."""
    res = cli("--version")
    assert res.returncode == 0
    assert res.stdout.startswith("socialcredit ")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, socialcredit.cli;"
         " print(sorted(m for m in ('numba', 'scipy', 'pydantic', 'numpy', 'pyarrow')"
         " if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


def test_help_shows_flags_as_flags_and_keeps_brackets():
    res = runner.invoke(app, ["simulate", "--help"])
    assert res.exit_code == 0
    assert "<bool>" not in res.output
    assert "--ledger " in res.output
    assert "[run] seed" in res.output  # not eaten as markup


def test_piped_output_is_not_wrapped_and_companies_count_company_days(tmp_path):
    out = tmp_path / "a-directory-with-a-rather-long-name-so-that-the-line-is-long" / "run"
    res = cli("simulate", "reference", "-n", "2000", "-d", "20", "-o", str(out))
    assert res.returncode == 0, res.stderr
    done = [line for line in res.stdout.splitlines() if line.startswith("results in")]
    assert len(done) == 1
    assert "summary.json" in done[0]
    assert "0:00…" not in res.stderr  # no progress bar cut at 80 columns when piped


def test_progress_counts_company_days_for_companies(monkeypatch):
    import io

    from rich.console import Console

    from socialcredit import cli as cli_module

    buf = io.StringIO()
    monkeypatch.setattr(cli_module, "err", Console(file=buf, force_terminal=True, width=200))
    with cli_module._progress(False, 10) as on_progress:
        on_progress("persons", 50, 100, 7)
        on_progress("companies", 5, 5, 1)
    text = buf.getvalue()
    assert "500/1,000 person-days" in text
    assert "50/50 company-days" in text


def test_explain_reads_well():
    text = runner.invoke(app, ["explain", "driving-points"]).output
    assert "2 regions" in text
    assert "scaled by the subject's risk (a trait)" in text
    one = runner.invoke(app, ["explain", "reference"]).output
    assert "10 regions" in one
    assert "1 regions" not in one
    assert "+1 points" not in one


def test_run_arguments_are_checked_before_anything_is_written(tmp_path):
    huge_block = ["-n", "2000000000", "--set", "population.block=1073741824"]
    for args in (["-n", "0"], ["--seed", "-1"], ["--threads", "0"], ["--chunk-size", "0"],
                 ["--days", "0"], ["--backend", "gpu"], huge_block,
                 ["--executor", "local", "--seeds", "2"], ["--shards", "2"]):
        out = tmp_path / "never"
        res = runner.invoke(app, ["simulate", "reference", *args, "-o", str(out), "-q"])
        assert res.exit_code == 2, (args, res.output)
        assert not out.exists(), args
        assert not list(tmp_path.glob(".*")), args  # no staging directory either
    # memory depends on the block (2**30 persons here), not on the society
    res = runner.invoke(app, ["simulate", "reference", *huge_block, "-o",
                              str(tmp_path / "x"), "-q"])
    assert "GiB of memory" in res.output
    res = runner.invoke(app, ["simulate", "reference", "-o", "", "-q"])
    assert res.exit_code == 2
    assert "--out" in res.output


def test_a_run_directory_is_replaced_whole_and_nothing_else_is_touched(tmp_path):
    out = tmp_path / "run"
    first = runner.invoke(app, ["simulate", "reference", "-n", "2000", "-d", "20", "-o",
                                str(out), "--ledger", "-q"])
    assert first.exit_code == 0, first.output
    assert (out / "ledger").is_dir()
    again = runner.invoke(app, ["simulate", "reference", "-n", "1000", "-d", "10", "-o",
                                str(out), "-q"])
    assert again.exit_code == 0, again.output
    assert not (out / "ledger").exists()  # the earlier run's files went with it
    assert json.loads((out / "run.json").read_text())["persons"] == 1000
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    res = runner.invoke(app, ["simulate", "reference", "-n", "1000", "-d", "10", "-o",
                              str(mine), "-q"])
    assert res.exit_code == 2
    assert "not a run directory" in res.output
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run"]


@pytest.mark.slow
def test_ctrl_c_leaves_no_staging_directory_and_the_old_run_intact(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    assert runner.invoke(app, ["simulate", "reference", "-n", "1000", "-d", "10", "-o",
                               str(out), "-q"]).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "socialcredit.cli", "simulate", "reference",
                             "-n", "3000000", "-d", "365", "-o", str(out), "-q", "--ledger"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".run.staging-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert json.loads((out / "run.json").read_text())["persons"] == 1000


def test_the_readme_example_of_three_problems(tmp_path):
    """The README's example output is what `validate` prints for that file."""
    text = (Path(__file__).parents[1] / "src/socialcredit/scenarios/reference.toml").read_text()
    text = text.replace("window_days = 180", "window_days = 180\nwindow = 3")
    text = text.replace("detection = 0.9", "detection = 1.5")
    text = text.replace('list = "blacklist"', 'list = "greylist"', 1)
    (tmp_path / "my.toml").write_text(text)
    res = subprocess.run([sys.executable, "-m", "socialcredit.cli", "validate", "my.toml"],
                         capture_output=True, text=True, cwd=tmp_path)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("$ socialcredit validate my.toml")[1].split("```")[0]
    shown = [line for line in block.splitlines()[1:] if line.strip()]
    assert res.returncode == 2
    assert res.stderr.splitlines() == shown


def test_a_report_written_by_simulate_names_the_run_directory_not_its_staging(tmp_path):
    out = tmp_path / "named-run"
    res = runner.invoke(app, ["simulate", "reference", "-n", "2000", "-d", "20", "-o", str(out),
                              "-q", "--report"])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "staging" not in html
    assert "named-run" in html


def test_the_current_directory_is_not_a_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path), str(tmp_path.parent)):
        res = runner.invoke(app, ["simulate", "reference", "-n", "1000", "-d", "5", "-o", out,
                                  "-q"])
        assert res.exit_code == 2, out
        assert "current directory" in res.output
    assert list(tmp_path.iterdir()) == []


def test_the_memory_check_counts_the_threads_that_work():
    from socialcredit.engine._run import estimate_memory
    from socialcredit.scenarios import load_scenario

    policy = load_scenario("reference")
    # one chunk: 64 threads ask no more memory than one
    assert estimate_memory(policy, 1000, 20000, 64) == estimate_memory(policy, 1000, 20000, 1)


def test_a_run_without_adults_reports_null_not_zero():
    from socialcredit import daily_metrics, simulate, summary
    from socialcredit.policy import parse_policy

    text = (Path(__file__).parents[1] / "src/socialcredit/scenarios/reference.toml").read_text()
    policy = parse_policy(text.replace("child_share = 0.20", "child_share = 0.999"))
    run = simulate(policy, population=3, days=10, seed=1)
    assert run.population.n_adults == 0
    s = summary(run)
    assert s["mean_score"] is None
    assert set(s["grades"].values()) == {None}
    assert list(daily_metrics(run)["person_score_p50"]) == [None] * 10
