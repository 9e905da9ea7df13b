"""Schemathesis fuzzes every operation of the OpenAPI schema: no request, however odd,
gets a server error (5xx). Its pytest plugin does not load under pytest 9, so each
operation's Hypothesis strategy is driven here directly."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from socialcredit.service import create_app, create_token, make_engine, upgrade
from tests.service.conftest import TODAY, reference_policy


@pytest.mark.slow
def test_no_operation_answers_with_a_server_error(tmp_path):
    db = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade(db)
    app = create_app(reference_policy(0.9), db, today=lambda: TODAY)
    token = create_token(make_engine(db), "admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 14
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=80, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
