"""Browser-facing protections: security headers, and the docs from local assets.

Every response (API, pages, docs, and the refusals of the outer middleware) carries a
Content-Security-Policy and the usual hardening headers, set by `_guard.Guard`;
everything but the public list, the public policy and the static assets is
`Cache-Control: no-store`. `/docs` is
Swagger UI from the `swagger-ui-bundle-v2` package (Swagger UI 5, Apache-2.0), started
by a local script: no CDN, no inline script.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

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
ASSET_CACHE = "public, max-age=3600"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("socialcredit.service", "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined)


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
    """Add the docs routes to `app` (the headers are set by `_guard.Guard`)."""
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
