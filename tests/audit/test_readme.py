"""The README's audit section shows real output."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from socialcredit.cli import app

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_the_readme_explain_block_is_what_audit_prints():
    section = README[README.index("## Auditing a policy"):README.index("## The Python API")]
    block = re.search(r"\$ socialcredit audit seed --explain (\S+)\n(.*?)```", section,
                      re.S)
    assert block
    res = CliRunner().invoke(app, ["audit", "seed", "--explain", block.group(1)])
    assert block.group(2).strip() in res.output
    # the block starts with the disclaimer, as the command prints it first
    assert res.output.startswith(block.group(2).strip().splitlines()[0])
    assert "not legal advice" in block.group(2).splitlines()[0]
    # said once in the prose (and in the output it quotes)
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    assert prose.count("not legal advice") == 1


def test_the_readme_run_figures_are_what_audit_prints(tmp_path):
    section = README[README.index("### Figures from a run"):README.index("## The Python API")]
    block = re.search(r"\$ socialcredit audit seed --simulate (\d+) --explain (\S+)\n(.*?)```",
                      section, re.S)
    assert block
    res = CliRunner().invoke(app, ["audit", "seed", "--simulate", block.group(1),
                                   "--explain", block.group(2)])
    assert res.exit_code == 1
    assert block.group(3).strip() in res.output
    assert res.output.startswith(block.group(3).strip().splitlines()[0])
    # the finding lines of the --run excerpt, on a run of the same size
    n = re.search(r"\$ socialcredit simulate seed -n (\d+) --out runs/seed", section).group(1)
    run = tmp_path / "seed"
    res = CliRunner().invoke(app, ["simulate", "seed", "-n", n, "--out", str(run), "-q"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["audit", "seed", "--run", str(run)])
    lines = [x for x in section.splitlines() if "[run: " in x]
    assert len(lines) >= 3
    for line in lines:
        assert line in res.output
