"""The HTTP service: the same rules as the simulator, over a real database.

Authorities record, gatekeepers ask, subjects see their own file and appeal, the public
sees what the policy discloses, and every access is audited. Subject access, appeal
and audit have no switch: they are part of the service, not options of it.

This module assembles the app: the context every route reads (`_context.Ctx`), the
routers (`routes/`), the HTTP mapping of domain errors (`_errors.install`), and the one
outer middleware (`_guard`: body size, anonymous rate limit, security headers).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi import FastAPI

from socialcredit import __version__
from socialcredit.policy import Policy
from socialcredit.service import _errors, _guard, _security
from socialcredit.service._audit_writer import AuditWriter
from socialcredit.service._auth import audit_refusal
from socialcredit.service._cache import StateCache
from socialcredit.service._context import Ctx
from socialcredit.service._db import make_engine
from socialcredit.service._rules import Rules
from socialcredit.service.routes import (
    appeals,
    audit,
    checks,
    pages,
    public,
    records,
    subjects,
    tokens,
)

MAX_BODY = 4 * 2**20
ANONYMOUS_RATE = (20.0, 100.0)  # anonymous requests per second and burst, per client


def create_app(policy: Policy, db_url: str, today: Callable[[], date] | None = None,
               anonymous_rate: tuple[float, float] = ANONYMOUS_RATE) -> FastAPI:
    """The service for `policy` over the database at `db_url` (already migrated).

    `today` gives the date the rules are evaluated at (default: the UTC date); a fixed
    one replays a simulated ledger. `anonymous_rate`: requests per second and burst
    allowed to each client without a token."""
    rules = Rules(policy)
    engine = make_engine(db_url)
    ctx = Ctx(policy=policy, rules=rules, engine=engine,
              clock=today or (lambda: datetime.now(UTC).date()),
              cache=StateCache(engine, rules), audit_writer=AuditWriter(engine),
              fixed_clock=today is not None)
    ctx.cache.on_tokens = ctx.tokens.clear
    app = FastAPI(title="socialcredit service", version=__version__,
                  description="The policy's rules over a real database, with subject access,"
                              " appeal and audit that cannot be switched off.",
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.state.rules, app.state.engine = rules, engine
    app.state.cache, app.state.audit_writer = ctx.cache, ctx.audit_writer
    _errors.install(app, on_refusal=audit_refusal)
    pages.install(app)
    for module in (checks, records, subjects, appeals, public, audit, tokens, pages):
        # the routes themselves, not the routers (FastAPI matches an included router's
        # routes through a layer of its own per request); checks first: the hot path
        app.router.routes.extend(module.router.routes)
    _security.install(app)
    _guard.install(app, ctx, limit=MAX_BODY, rate=anonymous_rate[0], burst=anonymous_rate[1])
    return app


def app_from_env() -> FastAPI:
    """The app `socialcredit serve` runs, configured by SOCIALCREDIT_POLICY (a policy
    file), SOCIALCREDIT_DB and SOCIALCREDIT_TODAY (optional YYYY-MM-DD)."""
    import os

    from socialcredit.policy import load_policy

    policy = load_policy(os.environ["SOCIALCREDIT_POLICY"])
    fixed = os.environ.get("SOCIALCREDIT_TODAY")
    day = date.fromisoformat(fixed) if fixed else None
    app = create_app(policy, os.environ["SOCIALCREDIT_DB"], (lambda: day) if day else None)
    app.state.rules.warm_up(day or date.today())
    # What exists now (modules, the app, compiled kernels) lives as long as the process:
    # out of the collector's way. A full collection over it takes 60-110 ms here, and
    # would stall every request in flight (the p99 of single checks).
    gc.collect()
    gc.freeze()
    return app
