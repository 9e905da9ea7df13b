"""Browser-facing protections: security headers, and the docs from local assets."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the security middleware and routes to `app`."""
