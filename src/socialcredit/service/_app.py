"""The HTTP service: the same rules as the simulator, over a real database.

Authorities record, gatekeepers ask, subjects see their own file and appeal, the public
sees what the policy discloses, and every access is audited. Subject access, appeal
and audit have no switch: they are part of the service, not options of it.

This module assembles the app: the context every route reads (`_context.Ctx`), the
routers (`routes/`), the HTTP mapping of domain errors (`_errors.install`), and the
middleware (body size, anonymous rate limit, security headers).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI

from socialcredit import __version__
from socialcredit.policy import Policy
from socialcredit.service import _errors, _security
from socialcredit.service._audit_writer import AuditWriter
from socialcredit.service._auth import actor_of, audit_refusal
from socialcredit.service._cache import StateCache
from socialcredit.service._context import Ctx
from socialcredit.service._db import make_engine
from socialcredit.service._rules import Rules
from socialcredit.service._tokens import hash_token
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
    app.add_middleware(_AnonymousLimit, rate=anonymous_rate[0], burst=anonymous_rate[1],
                       ctx=ctx)
    app.add_middleware(_BodyLimit, limit=MAX_BODY)
    return app


class _BodyLimit:
    """Refuse bodies over MAX_BODY with 413, before they are read into memory."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _refuse(send, 413, f"request body over {self.limit} bytes")
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _errors.ServiceError(f"request body over {self.limit} bytes")
            return message

        return await self.app(scope, limited, send)


class _AnonymousLimit:
    """A token bucket per client address for requests without a valid token: one
    anonymous client cannot hold the service (429 with Retry-After). A request passes
    unmetered only with a valid token (verified as the routes verify it, and then held
    by the process); a made-up token is metered like none."""

    MAX_CLIENTS = 100_000

    def __init__(self, app: Any, rate: float, burst: float, ctx: Ctx) -> None:
        self.app, self.rate, self.burst, self.ctx = app, rate, burst, ctx
        self.buckets: dict[str, tuple[float, float]] = {}

    def _verified(self, scope: dict) -> bool:
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v.decode("latin-1")
                if hash_token(header.partition(" ")[2].strip()) in self.ctx.tokens:
                    return True  # verified before (the route checks it again, and expiry)
                try:
                    actor_of(self.ctx, header)
                except _errors.ServiceError:
                    return False
                return True
        return False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or self._verified(scope):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        now = time.monotonic()
        level, last = self.buckets.get(client, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        if level < 1:
            self.buckets[client] = (level, now)
            wait = max(1, int((1 - level) / self.rate + 0.999))
            return await _refuse(send, 429, "too many requests without a token; slow down",
                                 [(b"retry-after", str(wait).encode())])
        if len(self.buckets) > self.MAX_CLIENTS:
            self.buckets.clear()
        self.buckets[client] = (level - 1, now)
        return await self.app(scope, receive, send)


async def _refuse(send: Callable, status: int, detail: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


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
