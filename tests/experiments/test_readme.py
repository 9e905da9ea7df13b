"""The README's experiment examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl

from socialcredit.experiments import load_experiment

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_readme_sweep_script_runs_sweep_table_chart(tmp_path):
    code = re.search(r"\*\*In Python\*\*.*?```python\n(.*?)```", _section("## Experiments"),
                     re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "misattribution" in res.stdout
    out = tmp_path / "runs" / "sweep-notebook"
    runs = pl.read_parquet(out / "runs.parquet")
    assert runs.height == 3 * 2
    assert (out / "chart.html").is_file()
    assert (out / "report.html").is_file()


def test_the_readme_experiment_file_is_the_example_and_is_valid():
    toml = re.search(r"```toml\n(\[experiment\].*?)```", _section("## Experiments"),
                     re.S).group(1)
    example = (ROOT / "examples" / "sweep-misattribution.toml").read_text(encoding="utf-8")
    import tomllib

    shown, real = tomllib.loads(toml), tomllib.loads(example)
    assert shown["parameters"] == real["parameters"]
    assert shown["experiment"]["policy"] == real["experiment"]["policy"]
    exp = load_experiment(ROOT / "examples" / "sweep-misattribution.toml")
    assert len(exp.points()) == 12


def test_the_python_api_for_notebooks(tmp_path):
    import socialcredit as sc

    run = sc.simulate("reference", population=1000, days=10, seed=3)
    text = repr(run)
    assert text.startswith("<RunResult 'reference': 1,000 persons")
    assert len(text) < 200
    df = run.to_polars()
    assert df.height == 10
    assert "person_score_mean" in df.columns
    assert run.to_arrow().num_rows == 10
    assert run.summary() == sc.summary(run)
    files = run.save(tmp_path / "r")
    assert "summary.json" in files
    from socialcredit.report._data import read_run

    back = read_run(tmp_path / "r")
    assert back.summary["mean_score"] == sc.summary(run)["mean_score"]
    assert sc.load_policy(tmp_path / "r" / "policy.toml") == run.policy
