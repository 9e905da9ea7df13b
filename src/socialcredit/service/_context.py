"""What every route needs: the policy's rules, the database, the clock, the check path's
cache and the audit writer; one per app (`app.state.ctx`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import Request

from socialcredit.policy import Policy
from socialcredit.service._audit_writer import AuditWriter
from socialcredit.service._cache import StateCache
from socialcredit.service._rules import Rules


@dataclass
class Ctx:
    policy: Policy
    rules: Rules
    engine: sa.Engine
    clock: Callable[[], date]
    cache: StateCache
    audit_writer: AuditWriter
    fixed_clock: bool = False
    tokens: dict[str, Any] = field(default_factory=dict)  # token hash -> Actor (_auth.py)
    extra: dict[str, Any] = field(default_factory=dict)  # per-app state of other modules

    @property
    def version(self) -> str:
        return self.rules.version


async def get_ctx(request: Request) -> Ctx:
    """The app's context (async: no thread hop per request)."""
    return request.app.state.ctx
