"""Browser-facing protections: security headers, and the docs from local assets.

Every response (API, pages, docs, and the refusals of the outer middleware) carries a
Content-Security-Policy and the usual hardening headers; everything but the public
list, the public policy and the static assets is `Cache-Control: no-store`. `/docs` is
Swagger UI from the `swagger-ui-bundle-v2` package (Swagger UI 5, Apache-2.0), started
by a local script: no CDN, no inline script.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
CACHEABLE = ("/v1/public/", "/static/")  # path prefixes whose answers may be cached
_RAW = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
_RAW_PRIVATE = [*_RAW, (b"cache-control", b"no-store")]
_OWN_NAMES = frozenset(k.encode() for k in HEADERS)
ASSET_CACHE = "public, max-age=3600"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("socialcredit.service", "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined)


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every HTTP response, and
    `Cache-Control: no-store` on every one outside `CACHEABLE`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        private = not scope["path"].startswith(CACHEABLE)
        ours = _RAW_PRIVATE if private else _RAW

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                # the route's own headers, less those set here, then ours (one pass)
                message["headers"] = [
                    *(h for h in message.get("headers") or ()
                      if h[0].lower() not in _OWN_NAMES
                      and (not private or h[0].lower() != b"cache-control")), *ours]
            await send(message)

        return await self.app(scope, receive, with_headers)


def docs_assets() -> dict[str, Path]:
    """The files `/static/docs/<name>` serves, by name (nothing else is served)."""
    from swagger_ui_bundle import swagger_ui_path

    bundle = Path(str(swagger_ui_path))
    own = Path(str(files("socialcredit.service") / "static"))
    return {"swagger-ui-bundle.js": bundle / "swagger-ui-bundle.js",
            "swagger-ui.css": bundle / "swagger-ui.css",
            "favicon-32x32.png": bundle / "favicon-32x32.png",
            "init.js": own / "docs-init.js"}


def install(app: FastAPI) -> None:
    """Add the security middleware and routes to `app`.

    The middleware wraps the whole stack Starlette builds (outside the error handler
    and any middleware added after this call), so 413, 429 and 500 answers carry the
    headers too."""
    build = app.build_middleware_stack

    def build_with_headers() -> Any:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
    assets = docs_assets()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        html = _TEMPLATES.get_template("docs.html.j2").render(
            title=f"{app.title} · API docs", openapi_url=app.openapi_url or "/openapi.json")
        return HTMLResponse(html)

    @app.get("/static/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        path = assets.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(path, headers={"cache-control": ASSET_CACHE})
