"""Reports and comparisons: content, offline single file, size, bad input."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.errors import RunOutputError
from socialcredit.report import write_comparison, write_report
from socialcredit.report._html import format_value
from socialcredit.scenarios import scenario_path

runner = CliRunner()


def simulate(out: Path, *args: str) -> Path:
    res = runner.invoke(app, ["simulate", *args, "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ref"
    return simulate(out, "reference", "-n", "20000", "-s", "3", "--report")


class _Table(HTMLParser):
    """Cells of the table with id="stats", row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table(html: str, table_id: str) -> dict[str, list[str]]:
    """Rows by their first cell (the statistics table: by its key, the second cell)."""
    p = _Table(table_id)
    p.feed(html)
    if table_id == "stats":
        return {row[1]: row[2:] for row in p.rows if row}
    return {row[0]: row[1:] for row in p.rows if row}


def test_simulate_report_writes_report(run_dir):
    assert (run_dir / "report.html").is_file()


def test_report_shows_the_runs_numbers(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    summary = json.loads((run_dir / "summary.json").read_text())
    stats = table(html, "stats")
    assert stats["blacklisted"] == [format_value("blacklisted", summary["blacklisted"])]
    assert stats["mean_score"] == [f"{summary['mean_score']:,.2f}"]
    assert stats["grades.AAA"] == [f"{summary['grades']['AAA']:.2%}"]
    assert stats["records_per_adult.volunteering"] == [
        f"{summary['records_per_adult']['volunteering']:,.2f}"]
    assert "20,000" in html
    assert "seed 3" in html
    assert "court_judgment_default record, for 365 days whatever the score" in html


def test_report_is_one_offline_file(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    markup = re.sub(r"<script>.*?</script>", "<script></script>", html, flags=re.S)
    assert markup.count("<script></script>") == 2  # the inlined libraries and the charts
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", markup, re.I)
    assert "vegaEmbed" in html
    specs = json.loads(re.search(r"const SPECS = (\{.*?\});\n", html, re.S).group(1))
    assert {"score_bands", "grade_shares", "list_sizes", "sanctions", "privileges",
            "false_records", "wrongful", "wrongful_share", "children", "cities",
            "company_grades", "company_effects", "tax"} <= set(specs)
    for spec in specs.values():
        assert "url" not in json.dumps(spec.get("data", {}))


@pytest.mark.slow
def test_report_for_a_million_persons_is_under_5_mb(tmp_path):
    out = simulate(tmp_path / "big", "seed", "-n", "1000000", "-d", "365", "--report")
    size = (out / "report.html").stat().st_size
    assert size <= 5 * 2**20, size


def test_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(RunOutputError, match="no such run directory"):
        write_report(tmp_path / "nope")
    res = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "no such run directory" in res.output


def test_incomplete_run_dir_is_a_clear_error(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(RunOutputError, match=r"missing details\.json, run\.json"):
        write_report(tmp_path)


def test_incompatible_version_is_refused(run_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    manifest = json.loads((old / "run.json").read_text())
    manifest["format_version"] = 99
    manifest["socialcredit_version"] = "9.9.9"
    (old / "run.json").write_text(json.dumps(manifest))
    res = runner.invoke(app, ["report", str(old)])
    assert res.exit_code == 2
    assert "incompatible version of socialcredit (9.9.9, run format 99)" in res.output


@pytest.fixture(scope="module")
def pair(tmp_path_factory, run_dir) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pair")
    policy = root / "no-misattribution.toml"
    policy.write_text(scenario_path("reference").read_text(encoding="utf-8")
                      .replace("misattribution = 0.05", "misattribution = 0.0"))
    return run_dir, simulate(root / "nomis", str(policy), "-n", "20000", "-s", "3")


def test_compare_overlays_runs_and_tabulates_differences(pair, tmp_path):
    a, b = pair
    out = write_comparison([a, b], tmp_path / "compare.html")
    html = out.read_text(encoding="utf-8")
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    stats = table(html, "stats")
    d = sb["wrongfully_blacklisted"] - sa["wrongfully_blacklisted"]
    # a difference of shares is in percentage points
    assert stats["wrongfully_blacklisted"][2] == ("+" if d > 0 else "") + f"{d * 100:.2f} pp"
    assert sb["wrongfully_blacklisted"] < sa["wrongfully_blacklisted"]  # fewer errors
    # common random numbers: the registry records do not move
    assert stats["records_per_adult.volunteering"][2] == "0.00"
    diff = table(html, "policy-diff")
    assert diff == {"field": [a.name, b.name],
                    "channels.camera.misattribution": ["0.05", "0.0"]}
    specs = json.loads(re.search(r"const SPECS = (\{.*?\});\n", html, re.S).group(1))
    runs = {row["_run"] for row in specs["list_sizes"]["data"]["values"]}
    assert len(runs) == 2


def test_compare_refuses_runs_on_different_societies(pair, tmp_path):
    a, _ = pair
    bigger = simulate(tmp_path / "n", "reference", "-n", "30000", "-s", "3")
    res = runner.invoke(app, ["compare", str(a), str(bigger), "-o", str(tmp_path / "c.html")])
    assert res.exit_code == 2
    assert "do not share a society (different persons (20000 vs 30000))" in res.output
    with pytest.raises(RunOutputError, match=r"different persons \(20000 vs 30000\)"):
        write_comparison([a, bigger], tmp_path / "c.html")
    with pytest.raises(RunOutputError, match="at least two"):
        write_comparison([a], tmp_path / "c.html")
    assert not (tmp_path / "c.html").exists()
