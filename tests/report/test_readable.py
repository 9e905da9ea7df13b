"""What a reader sees in a report: lines that coincide said so, a colour per series,
grades coloured by rank, a city chart that says what its dots are, a zero series above
the axis, statistics in words with differences in percentage points, and a word of why
when a chart is flat. Checked in the page Chromium renders, with screenshots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from socialcredit.report import write_comparison
from socialcredit.report._charts import grade_colours
from socialcredit.scenarios import scenario_path

from .test_browser import open_report
from .test_report import simulate, table


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("seed") / "seed", "seed", "-n", "20000", "-s",
                    "5", "--report")


def specs(html: str) -> dict:
    return json.loads(re.search(r"const SPECS = (\{.*?\});\n", html, re.S).group(1))


def test_equal_series_are_one_line_and_said_so(seed_run):
    """seed: four sanctions hang on the court list, so their counts are equal every
    day; drawn apart, three would hide under the fourth."""
    html = (seed_run / "report.html").read_text(encoding="utf-8")
    fold = specs(html)["sanctions"]["transform"][0]["fold"]
    merged = [s for s in fold if " = " in s]
    assert merged
    assert "no_flights" in merged[0]
    assert "no_high_speed_rail" in merged[0]
    assert "Equal series, drawn as one line" in html


def test_grades_are_coloured_by_rank(seed_run):
    s = specs((seed_run / "report.html").read_text(encoding="utf-8"))
    person = s["grade_shares"]["encoding"]["color"]["scale"]
    company = s["company_grades"]["encoding"]["color"]["scale"]
    assert person["domain"][-1] == company["domain"][-1] == "D"
    assert person["range"][-1] == company["range"][-1]  # the lowest grade, the same red
    assert grade_colours(["A", "B"]) == grade_colours(["AAA", "AA", "A", "B"])[-2:]


@pytest.mark.browser
def test_the_page_a_reader_sees(browser, seed_run, tmp_path):
    page, problems, _ = open_report(browser, seed_run / "report.html")
    assert problems == []
    # a colour per series in the sanctions chart
    strokes = page.eval_on_selector_all(
        "#chart-sanctions svg path[aria-roledescription='line mark']",
        "els => els.map(e => e.getAttribute('stroke'))")
    assert len(strokes) >= 5
    assert len(set(strokes)) == len(strokes)
    # the city chart: legends for size and colour, named after the list, from 0 up
    cities = page.inner_text("#fig-cities")
    assert "share on blacklist" in cities
    ticks = page.eval_on_selector_all("#chart-cities svg .role-axis-label text",
                                      "els => els.map(e => e.textContent)")
    assert "0" in ticks or "0.0" in ticks
    for name in ("grade_shares", "sanctions", "cities", "company_grades"):
        page.query_selector(f"#fig-{name}").screenshot(path=str(tmp_path / f"{name}.png"))
        img = np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"), np.int64)
        assert len({tuple(c) for c in img.reshape(-1, 3)[::5]}) > 30, name  # drawn
    # the lowest grade has the same colour in the person and the company chart
    symbols = {}
    for chart in ("grade_shares", "company_grades"):
        fills, labels = page.evaluate(
            f"""() => [
              [...document.querySelectorAll('#chart-{chart} svg .role-legend-symbol path')]
                .map(e => e.getAttribute('fill')),
              [...document.querySelectorAll('#chart-{chart} svg .role-legend-label text')]
                .map(e => e.textContent)]""")
        symbols[chart] = dict(zip(labels, fills, strict=True))
    assert symbols["grade_shares"]["D"] == symbols["company_grades"]["D"]
    assert symbols["grade_shares"]["C"] == symbols["company_grades"]["C"]
    page.close()


@pytest.mark.browser
def test_a_zero_series_stays_visible_in_a_comparison(browser, pair, tmp_path):
    """Without misattribution the camera's false records are 0 every day: the line is
    drawn above the axis, not under it."""
    path = write_comparison(list(pair), tmp_path / "compare.html")
    page, problems, _ = open_report(browser, path)
    assert problems == []
    axis = max(page.eval_on_selector_all(  # the x axis: the lowest domain line
        "#chart-false_records svg .role-axis-domain line",
        "els => els.map(e => e.getBoundingClientRect().top)"))
    lines = page.eval_on_selector_all(
        "#chart-false_records svg path[aria-roledescription='line mark']",
        "els => els.map(e => e.getBoundingClientRect().bottom)")
    assert lines
    assert max(lines) < axis  # every line, the zero one included, above the axis line
    html = path.read_text(encoding="utf-8")
    stats = table(html, "stats")
    assert stats["blacklisted"][2].endswith(" pp")
    assert "adults blacklisted" in html  # statistics in words, their keys beside them
    page.close()


def test_a_flat_run_says_why(tmp_path):
    """A policy in which nobody does anything: a notice at the top, and a word under
    each chart that is all zero."""
    text = scenario_path("reference").read_text(encoding="utf-8")
    blank = re.sub(r"\[\[behaviours\]\].*?(?=\n\[person_score\])", "", text, flags=re.S)
    blank = blank.replace('false_positive = { rate = "1/2000", kind = "spreading_rumors" }\n',
                          "")
    blank = re.sub(r"triggers = \[.*?\]\n", "", blank)
    blank = blank.replace('[[summary.extra_company_grade_shares]]', '[[x]]')
    policy = tmp_path / "blank.toml"
    policy.write_text(blank, encoding="utf-8")
    out = simulate(tmp_path / "flat", str(policy), "-n", "3000", "-d", "30", "--report")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "this policy has no behaviours" in html
    assert "Every value is 0 in this run" in html


def test_grades_keep_distinct_colours_however_many():
    names = [f"G{k:02d}" for k in range(14)]
    assert len(set(grade_colours(names))) == 14
    assert grade_colours(names)[-1] == grade_colours(["A", "B"])[-1]  # the lowest is red


def test_series_named_like_the_rows_fields_keep_their_data(tmp_path):
    """A grade or a list may be named "day" or "run": the rows' own fields are apart."""
    text = scenario_path("reference").read_text(encoding="utf-8")
    text = text.replace('name = "blacklist"', 'name = "day"').replace(
        'list = "blacklist"', 'list = "day"').replace('"blacklist"]', '"day"]').replace(
        '{ name = "AAA", min = 1050 }', '{ name = "run", min = 1050 }')
    policy = tmp_path / "names.toml"
    policy.write_text(text, encoding="utf-8")
    out = simulate(tmp_path / "names", str(policy), "-n", "3000", "-d", "30", "--report")
    s = specs((out / "report.html").read_text(encoding="utf-8"))
    rows = s["list_sizes"]["data"]["values"]
    assert {r["_day"] for r in rows} == set(range(30))
    assert "day" in s["list_sizes"]["transform"][0]["fold"]
    assert "run" in s["grade_shares"]["transform"][0]["fold"]


def test_a_comparison_does_not_colour_changes_good_or_bad(pair, tmp_path):
    html = write_comparison(list(pair), tmp_path / "c.html").read_text(encoding="utf-8")
    assert 'class="up"' not in html
    assert 'class="down"' not in html
    assert 'class="changed"' in html
    spec = specs(html)["wrongful"]
    assert spec["encoding"]["y"]["axis"]["tickMinStep"] == 1  # counts: no repeated ticks
