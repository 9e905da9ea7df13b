from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.policy import parse_policy
from socialcredit.scenarios import scenario_path
from socialcredit.service import create_app, create_token, make_engine, upgrade
from socialcredit.service._db import dispose_engines

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TODAY = date(2026, 6, 30)


def _pg_available() -> str | None:
    try:
        with make_engine(PG_ADMIN).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        dispose_engines(PG_ADMIN)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__})"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
        upgrade(url)
        yield url
        dispose_engines(url)
        return
    why = _pg_available()
    if why:
        pytest.skip(why)
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    dispose_engines(PG_ADMIN)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield url
    dispose_engines(url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def reference_policy(review_below: float | None = None):
    text = scenario_path("reference").read_text(encoding="utf-8")
    if review_below is not None:
        text = text.replace("deterrence = 0.5\nautomated = true",
                            f"deterrence = 0.5\nautomated = true\n"
                            f"review_below_confidence = {review_below}")
    return parse_policy(text)


class Service:
    """A test client with one token per role."""

    def __init__(self, url: str, policy) -> None:
        self.url = url
        self.app = create_app(policy, url, today=lambda: TODAY)
        self.client = TestClient(self.app)
        engine = make_engine(url)
        self.tokens = {
            "recorder": create_token(engine, "recorder"),
            "flight": create_token(engine, "gatekeeper", service="flight"),
            "school": create_token(engine, "gatekeeper", service="school_choice"),
            "rental": create_token(engine, "gatekeeper", service="rental_deposit_waiver"),
            "reviewer": create_token(engine, "reviewer"),
            "auditor": create_token(engine, "auditor"),
            "alice": create_token(engine, "subject", subject="alice"),
            "bob": create_token(engine, "subject", subject="bob"),
        }

    def h(self, who: str) -> dict[str, str]:
        """A role's token (or, for any other name, that subject's own token)."""
        if who not in self.tokens:
            self.tokens[who] = create_token(make_engine(self.url), "subject", subject=who)
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def record(self, rid: str, subject: str, kind: str, on: str = "2026-06-01",
               channel: str | None = None, **extra):
        channels = {"court_judgment_default": "court", "volunteering": "registry",
                    "running_red_light": "camera", "late_debt_payment": "financial",
                    "late_payment": "financial", "spreading_rumors": "online"}
        body = {"id": rid, "subject": subject, "kind": kind, "occurred_at": on,
                "channel": channel or channels[kind], **extra}
        return self.client.post("/v1/records", json=body, headers=self.h("recorder"))


@pytest.fixture
def svc(db_url) -> Service:
    return Service(db_url, reference_policy(review_below=0.9))
