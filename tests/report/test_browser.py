"""The report in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def open_report(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("document.body.dataset.rendered === 'true'", timeout=60_000)
    return page, problems, requests


@pytest.mark.parametrize("which", ["report", "compare"])
def test_every_chart_renders(browser, run_dir, pair, tmp_path, which):
    from socialcredit.report import write_comparison

    path = run_dir / "report.html" if which == "report" else write_comparison(
        list(pair), tmp_path / "compare.html")
    page, problems, requests = open_report(browser, path)
    assert problems == []
    assert page.evaluate("window.chartErrors") == []
    charts = page.query_selector_all(".chart")
    assert len(charts) >= 13
    assert page.evaluate("window.chartsRendered") == len(charts)
    for chart in charts:
        svg = chart.query_selector("svg")
        assert svg is not None, chart.get_attribute("id")
        box = svg.bounding_box()
        assert box["width"] > 300, chart.get_attribute("id")
        assert box["height"] > 150, chart.get_attribute("id")
        marks = chart.eval_on_selector_all("svg path, svg circle", "els => els.length")
        assert marks > 10, chart.get_attribute("id")
    assert [r for r in requests if not r.startswith("file:")] == []  # nothing from outside
    page.close()


def test_screenshot(browser, run_dir, tmp_path):
    page, problems, _ = open_report(browser, run_dir / "report.html")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    figure = page.query_selector("#fig-score_bands")
    figure.screenshot(path=str(tmp_path / "score_bands.png"))
    page.close()
    assert problems == []
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape[1] == 1280
    assert img.shape[0] > 3000
    fig = np.asarray(Image.open(tmp_path / "score_bands.png").convert("RGB"), dtype=np.int64)
    # the chart is drawn: many distinct colours (bands, line, axes), not a blank box
    colours = {tuple(c) for c in fig.reshape(-1, 3)[::7]}
    assert len(colours) > 50
    assert img.std() > 10
