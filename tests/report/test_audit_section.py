"""The report's audit section: verdicts per article, findings with their paths and the
run's figures (socialcredit audit --run, in HTML), offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.report.test_report import simulate, table

ART5 = "AI Act Art. 5(1)(c)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audit-report")
    return {name: simulate(root / name, name, "-n", "3000", "--report")
            for name in ("seed", "driving-points")}


def _section(html: str) -> str:
    return html[html.index('<h2 id="audit">'):html.index('<h2 id="policy">')]


def test_seed_shows_its_prohibited_practice_indicators_and_figures(runs):
    run = runs["seed"]
    html = (run / "report.html").read_text(encoding="utf-8")
    section = _section(html)
    assert "Audit (EU AI Act, GDPR)" in section
    assert html.count("not legal advice") == 1
    verdicts = table(html, "audit-verdicts")
    assert verdicts[ART5][0] == "INDICATORS: prohibited-practice indicators"
    findings = table(html, "audit-findings")
    d = json.loads((run / "details.json").read_text())
    n = d["measures_in_force"]["jobs_closed"]
    wrong = d["person"]["lists"]["blacklist"]["wrongfully_listed"]
    level, article, what, figures = findings["disproportion/jobs_closed"]
    assert (level, article) == ("indicator", ART5)
    assert "bring jobs_closed (severe)" in what
    assert "civil_service_job is denied" in what  # its path
    assert f"in force on {n:,} adults" in figures
    assert f"{wrong:,} of the " in figures
    kids = d["measures_in_force"]["children_no_school_choice"]
    assert f"in force on {kids:,} children" in \
        findings["third_parties/children_no_school_choice"][3]
    lists = table(html, "audit-lists")
    assert lists["blacklist"][2] == f"{wrong:,}"
    # offline: the section loads nothing
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", section, re.I)
    assert "http" not in section


def test_driving_points_is_clear(runs):
    html = (runs["driving-points"] / "report.html").read_text(encoding="utf-8")
    verdicts = table(html, "audit-verdicts")
    assert verdicts[ART5][0].startswith("CLEAR")
    assert "prohibited-practice indicators" not in _section(html)
    assert html.count("not legal advice") == 1


def test_an_article_that_cannot_be_judged_says_so(tmp_path):
    """A policy without the facts an article turns on (here `severity`) is not shown as
    clear, nor as a mere review, in the report: CANNOT JUDGE, as in the terminal."""
    from socialcredit.scenarios import scenario_path

    text = scenario_path("seed").read_text(encoding="utf-8")
    bare = tmp_path / "bare.toml"
    bare.write_text("\n".join(line for line in text.splitlines()
                              if not line.strip().startswith("severity")), encoding="utf-8")
    run = simulate(tmp_path / "run", str(bare), "-n", "2000", "-d", "30", "--report")
    section = _section((run / "report.html").read_text(encoding="utf-8"))
    assert "CANNOT JUDGE" in section
    assert "cannot judge: facts missing" in section
