"""`socialcredit audit`: exit 1 on prohibited-practice indicators (for CI), 2 on errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from socialcredit.cli import app

runner = CliRunner()


def test_controls_exit_0_and_say_so_once():
    for name in ("driving-points", "food-hygiene"):
        res = runner.invoke(app, ["audit", name])
        assert res.exit_code == 0, res.output
        assert "CLEAR" in res.output
        assert res.output.count("not legal advice") == 1


def test_seed_exits_1_with_its_paths():
    res = runner.invoke(app, ["audit", "seed"])
    assert res.exit_code == 1, res.output
    assert "prohibited-practice indicators" in res.output
    assert "unlicensed_phone_use x 41" in res.output
    assert "smoking_in_nonsmoking_area x 81" in res.output


def test_json():
    res = runner.invoke(app, ["audit", "reference", "--json"])
    assert res.exit_code == 1
    d = json.loads(res.output)
    assert d["prohibited_practice_indicators"] is True
    assert {f["type"] for f in d["findings"]} >= {"cross_context", "third_parties"}


def test_explain_prints_the_path_in_words():
    res = runner.invoke(app, ["audit", "seed", "--explain",
                              "cross_context/jobs_closed/unlicensed_phone_use"])
    assert res.exit_code == 1
    assert "41 such acts" in res.output
    assert "civil_service_job is denied" in res.output
    res = runner.invoke(app, ["audit", "seed", "--explain", "third_parties"])
    assert res.output.count("third_parties/") == 2


def test_errors_exit_2_without_a_traceback(tmp_path):
    res = runner.invoke(app, ["audit", "no-such-scenario"])
    assert res.exit_code == 2
    assert "available" in res.output
    res = runner.invoke(app, ["audit", "seed", "--explain", "nonsense"])
    assert res.exit_code == 2
    assert "finding types are" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[meta]\nname = "x"\n[[regions]]\nname = "r"\n[channels.c]\n'
                   'context = "astrology"\n')
    res = runner.invoke(app, ["audit", str(bad)])
    assert res.exit_code == 2
    assert "context" in res.output
    assert "road_traffic" in res.output
    assert "Traceback" not in res.output
