"""Service commands: db upgrade, tokens create, ingest (serve runs in the reliability and
page tests)."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.service import make_engine
from socialcredit.service._db import tokens
from socialcredit.service._tokens import hash_token

runner = CliRunner()


def test_db_upgrade_and_tokens(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    res = runner.invoke(app, ["db", "upgrade", "--db", db])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["tokens", "create", "--role", "gatekeeper", "--service",
                              "flight", "--db", db])
    assert res.exit_code == 0, res.output
    token = res.output.strip()
    assert token.startswith("sc_gat_")
    with make_engine(db).connect() as conn:
        row = conn.execute(sa.select(tokens)).one()
    assert row.token_hash == hash_token(token)  # stored hashed, never in clear
    assert row.service == "flight"


def test_token_errors_exit_2(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    for args, msg in ([["--role", "king"], "unknown role 'king'"],
                      [["--role", "gatekeeper"], "needs --service"],
                      [["--role", "subject"], "needs --subject ID"]):
        res = runner.invoke(app, ["tokens", "create", *args, "--db", db])
        assert res.exit_code == 2
        assert msg in res.output


def test_ingest_refuses_a_missing_ledger(tmp_path):
    res = runner.invoke(app, ["ingest", str(tmp_path / "nope.parquet"), "--db",
                              f"sqlite:///{tmp_path / 'x.db'}"])
    assert res.exit_code == 2
    assert "no such ledger" in res.output


def test_ingest_a_simulated_ledger(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "reference", "-n", "500", "-d", "30", "--ledger",
                              "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    db = f"sqlite:///{tmp_path / 'x.db'}"
    res = runner.invoke(app, ["ingest", str(out / "ledger"), "--policy", "reference",
                              "--db", db])
    assert res.exit_code == 0, res.output
    assert "ingested" in res.output
