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
    assert section.count("not legal advice") == 1
