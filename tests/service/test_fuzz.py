"""Schemathesis fuzzes every operation of the OpenAPI schema, with every role's token,
no token and a bad token, on SQLite and PostgreSQL: no request, however odd, gets a
server error (5xx). Its pytest plugin does not load under pytest 9, so each operation's
Hypothesis strategy is driven here directly."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from socialcredit.service import create_app, create_token, make_engine
from tests.service.conftest import TODAY, reference_policy


@pytest.mark.slow
def test_no_operation_answers_with_a_server_error(db_url):
    app = create_app(reference_policy(0.9), db_url, today=lambda: TODAY,
                     anonymous_rate=(1e6, 1e6))
    engine = make_engine(db_url)
    headers = [{}, {"Authorization": "Bearer sc_bad_token"}] + [
        {"Authorization": f"Bearer {create_token(engine, role, **extra)}"}
        for role, extra in (("recorder", {}), ("gatekeeper", {"service": "flight"}),
                            ("subject", {"subject": "alice"}), ("reviewer", {}),
                            ("auditor", {}), ("admin", {}))]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20
    for op in operations:
        @given(case=op.as_strategy(), who=st.sampled_from(headers))
        @settings(max_examples=60, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case, who):
            case.headers = {**(case.headers or {}), **who}
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
