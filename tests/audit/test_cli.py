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


def _without_facts(tmp_path, children: bool = False):
    """seed with every context, gravity and severity taken out (and, unless
    `children`, its measures on children made measures on the subject)."""
    import tomllib

    import tomli_w

    from socialcredit.scenarios import scenario_path

    data = tomllib.loads(scenario_path("seed").read_text())
    for ch in data["channels"].values():
        ch.pop("context", None)
    for x in data["behaviours"] + data["measures"]:
        for key in ("context", "gravity", "severity", *(() if children else ("reaches",))):
            x.pop(key, None)
    path = tmp_path / "nofacts.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_missing_facts_cannot_be_judged_and_exit_3(tmp_path):
    res = runner.invoke(app, ["audit", str(_without_facts(tmp_path))])
    assert res.exit_code == 3, res.output
    verdicts = res.output[res.output.index("Verdicts"):res.output.index("What brings")]
    assert "CLEAR" not in verdicts.split("GDPR Art. 15")[0]  # Art. 5 and 22
    assert verdicts.count("CANNOT JUDGE: facts missing") == 2
    d = json.loads(runner.invoke(app, ["audit", str(_without_facts(tmp_path)),
                                       "--json"]).output)
    assert d["exit_status"] == 3
    for art in ("AI Act Art. 5(1)(c)", "GDPR Art. 22"):
        assert d["verdicts"][art]["cannot_judge"] is True
        assert d["verdicts"][art]["verdict"].startswith("cannot judge: facts missing (")
    # measures on children need no fact to be indicators: they stand; Art. 22 still
    # cannot be judged
    res = runner.invoke(app, ["audit", str(_without_facts(tmp_path, children=True)),
                              "--json"])
    assert res.exit_code == 1, res.output
    d = json.loads(res.output)
    assert d["verdicts"]["AI Act Art. 5(1)(c)"]["level"] == "indicator"
    assert d["verdicts"]["GDPR Art. 22"]["verdict"].startswith(
        "cannot judge: facts missing (the severity")


def test_indicators_under_any_article_exit_1(tmp_path):
    # an automated channel feeding a significant sanction: Art. 22 indicators only
    from socialcredit.audit import audit
    from tests.audit.policies import VARIANTS, policy

    for kind in ("automated", "opacity"):
        a = audit(policy(VARIANTS[kind]))
        assert not a.prohibited
        assert a.exit_code == 1, kind


def test_explain_takes_what_the_terminal_prints_and_list_names():
    res = runner.invoke(app, ["audit", "seed"])
    grouped = [w for line in res.output.splitlines() for w in line.split()
               if w.startswith("cross_context/jobs_closed/")]
    assert grouped == ["cross_context/jobs_closed/*"]
    res = runner.invoke(app, ["audit", "seed", "--explain", grouped[0]])
    assert res.exit_code == 1, res.output
    assert res.output.count("\ncross_context/jobs_closed/") == 10
    res = runner.invoke(app, ["audit", "seed", "--explain", "court_debtors"])
    assert res.exit_code == 1, res.output
    from socialcredit.audit import audit
    from socialcredit.scenarios import load_scenario

    named = [f.id for f in audit(load_scenario("seed")).findings if f.list == "court_debtors"]
    assert len(named) >= 5
    for ident in named:
        assert f"\n{ident}  " in res.output
    for bad in ("", "cross", "/", "*x"):
        res = runner.invoke(app, ["audit", "seed", "--explain", bad])
        assert res.exit_code == 2, bad
        assert "no finding" in res.output
