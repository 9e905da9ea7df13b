"""The web pages: the public list, log-in, a subject's file and appeals, the review
queue and the audit log, over the same functions as the API.

The token lives in an HttpOnly, SameSite=Strict cookie (Secure over TLS). Every POST
form carries a double-submit CSRF token (the `sc_csrf` cookie, repeated in a hidden
`csrf` field); a form without the matching field is refused (403) before it does
anything. Messages after a redirect are codes from `FLASH`, never text from the URL."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from socialcredit.service._auth import Actor, CtxDep, actor_of
from socialcredit.service._errors import ServiceError
from socialcredit.service._schemas import (
    AppealIn,
    DecisionIn,
    RecordPath,
    ReviewIn,
    RowId,
)
from socialcredit.service.routes import appeals, audit, public, subjects

router = APIRouter(include_in_schema=False)

_PAGES = jinja2.Environment(loader=jinja2.PackageLoader("socialcredit.service", "templates"),
                            autoescape=True, undefined=jinja2.StrictUndefined)

TOKEN_COOKIE = "sc_token"
CSRF_COOKIE = "sc_csrf"
_CSRF_FORMAT = re.compile(r"[A-Za-z0-9_\-]{32,128}")

# What a page may say after a redirect: `?flash=<code>`, and the named parts, each shown
# only if the whole of it matches its pattern (anything else: no message at all).
FLASH = {
    "login_needed": "Please log in with a suitable token.",
    "logged_out": "Logged out.",
    "appeal_opened": "Appeal {appeal} opened on {record}.",
    "appeal_upheld": "Appeal {appeal} upheld.",
    "appeal_rejected": "Appeal {appeal} rejected.",
    "record_confirmed": "Record {record} confirmed.",
    "record_rejected": "Record {record} rejected.",
}
FLASH_PARTS = {"appeal": re.compile(r"[0-9]{1,10}"),
               "record": re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")}


class LoginNeeded(Exception):
    """A page needs a token of another role: send the reader to the login page."""


class CsrfRefused(Exception):
    """A form without the CSRF token of this browser's cookie."""


def install(app: FastAPI) -> None:
    """The pages' exception handlers: log-in needed, and forms refused for CSRF."""

    @app.exception_handler(LoginNeeded)
    async def _to_login(_request: Request, _exc: Exception) -> RedirectResponse:
        return RedirectResponse(flash_url("/login", "login_needed"), 303)

    @app.exception_handler(CsrfRefused)
    async def _refused(request: Request, _exc: Exception) -> HTMLResponse:
        ctx = request.app.state.ctx

        def render() -> HTMLResponse:
            return page(ctx, "refused.html.j2", request, page_actor(ctx, request), 403,
                        title="Refused",
                        error="This form did not come from this site's current page;"
                              " nothing was done.")

        return await run_in_threadpool(render)


def flash_url(path: str, code: str, **parts: str | int) -> str:
    """`path` with the message `code` (a key of FLASH) and its parts."""
    return f"{path}?{urlencode({'flash': code, **parts})}"


def flash_text(query: Mapping[str, str]) -> str | None:
    """The message the query names, if its code is known and every part valid."""
    text = FLASH.get(query.get("flash", ""))
    if text is None:
        return None
    names = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    parts = {name: query.get(name, "") for name in names}
    if not all(FLASH_PARTS[name].fullmatch(value) for name, value in parts.items()):
        return None
    return text.format(**parts)


def _cookie_attrs(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https",
            "path": "/"}


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: its cookie's, or a new one."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if _CSRF_FORMAT.fullmatch(token) else secrets.token_urlsafe(32)


async def require_csrf(request: Request,
                       csrf: Annotated[str, Form(max_length=200)] = "") -> None:
    """A dependency of every POST form: the `csrf` field equals the `sc_csrf` cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf.encode()):
        raise CsrfRefused


CSRF = [Depends(require_csrf)]


def page_actor(ctx: Any, request: Request) -> Actor | None:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        return actor_of(ctx, f"Bearer {token}")
    except ServiceError:
        return None


def page(ctx: Any, name: str, request: Request, who: Actor | None, status: int = 200,
         **kw: Any) -> HTMLResponse:
    """Render template `name`; set the CSRF cookie its forms repeat, if it is missing."""
    csrf = csrf_token(request)
    html = _PAGES.get_template(name).render(
        who=who, policy_version=ctx.version, flash=flash_text(request.query_params),
        csrf=csrf, error=kw.pop("error", None), title=kw.pop("title", name.split(".")[0]),
        **kw)
    resp = HTMLResponse(html, status_code=status)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        resp.set_cookie(CSRF_COOKIE, csrf, **_cookie_attrs(request))
    return resp


def page_guard(ctx: Any, request: Request, *roles: str) -> Actor:
    who = page_actor(ctx, request)
    if who is None or who.role not in roles:
        raise LoginNeeded
    return who


def _refusal(exc: Exception) -> tuple[int, str]:
    """The status and the sentence to show for an action refused with `exc` (pydantic's
    messages without the input they echo)."""
    if isinstance(exc, ServiceError):
        return exc.status, str(exc)
    if isinstance(exc, ValidationError):
        return 422, "; ".join(str(e["msg"]) for e in exc.errors())
    return 422, "invalid input"


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/public", 303)


@router.get("/public", response_class=HTMLResponse)
def public_page(request: Request, ctx: CtxDep, q: str = "",
                page_no: int = Query(1, alias="page", ge=1, le=1_000_000)):
    q = "".join(c for c in q[:64] if c.isalnum() or c in "._:-")
    data = public.public_list(ctx, q=q, page=page_no, per_page=50)
    pages = max(1, -(-data["total"] // 50))
    return page(ctx, "public.html.j2", request, page_actor(ctx, request), title="Public list",
                q=q, page=data["page"], pages=pages, total=data["total"], items=data["items"])


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: CtxDep):
    return page(ctx, "login.html.j2", request, page_actor(ctx, request), title="Log in")


@router.post("/login", dependencies=CSRF)
def login(request: Request, ctx: CtxDep, token: Annotated[str, Form()] = ""):
    """The token comes in the form body, never in a URL; any failure: 401, one message."""
    try:
        who = actor_of(ctx, f"Bearer {token.strip()}")
    except ServiceError:
        return page(ctx, "login.html.j2", request, None, 401, title="Log in",
                    error="Unknown token.")
    target = {"subject": "/me", "reviewer": "/review", "auditor": "/audit-log"}.get(
        who.role, "/public")
    resp = RedirectResponse(target, 303)
    attrs = _cookie_attrs(request)
    resp.set_cookie(TOKEN_COOKIE, token.strip(), **attrs)
    resp.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), **attrs)  # a new one per login
    return resp


@router.post("/logout", dependencies=CSRF)
def logout(request: Request) -> RedirectResponse:
    resp = RedirectResponse(flash_url("/public", "logged_out"), 303)
    resp.delete_cookie(TOKEN_COOKIE, **_cookie_attrs(request))
    return resp


def _me(ctx: Any, request: Request, who: Actor, status: int = 200,
        error: str | None = None) -> HTMLResponse:
    state = subjects.get_subject(who.subject, ctx, "subject_access", who)
    file = subjects.get_file(who.subject, ctx, "subject_access", who)
    return page(ctx, "me.html.j2", request, who, status, title="My file", state=state,
                file=file, error=error)


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, ctx: CtxDep):
    return _me(ctx, request, page_guard(ctx, request, "subject"))


@router.post("/me/appeal", dependencies=CSRF)
def me_appeal(request: Request, ctx: CtxDep, record: Annotated[str, Form(max_length=128)],
              statement: Annotated[str, Form(max_length=10_000)]):
    who = page_guard(ctx, request, "subject")
    try:
        out = appeals.post_appeal(AppealIn(record=record, statement=statement), ctx, who)
    except (ServiceError, ValueError) as exc:
        status, reason = _refusal(exc)
        return _me(ctx, request, who, status, f"Appeal not opened: {reason}")
    return RedirectResponse(flash_url("/me", "appeal_opened", appeal=out["id"],
                                      record=record), 303)


def _review(ctx: Any, request: Request, who: Actor, status: int = 200,
            error: str | None = None) -> HTMLResponse:
    return page(ctx, "review.html.j2", request, who, status, title="Review queue",
                queue=appeals.queue(ctx, "review", who), error=error)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, ctx: CtxDep):
    return _review(ctx, request, page_guard(ctx, request, "reviewer"))


@router.post("/review/appeals/{appeal_id}", dependencies=CSRF)
def review_appeal(request: Request, ctx: CtxDep, appeal_id: RowId,
                  upheld: Annotated[str, Form(pattern="^(true|false)$")],
                  note: Annotated[str, Form(max_length=10_000)]):
    who = page_guard(ctx, request, "reviewer")
    try:
        out = appeals.decide(appeal_id, DecisionIn(upheld=upheld == "true", note=note), ctx,
                             who)
    except (ServiceError, ValueError) as exc:
        status, reason = _refusal(exc)
        return _review(ctx, request, who, status, f"Not decided: {reason}")
    code = "appeal_upheld" if out["status"] == "upheld" else "appeal_rejected"
    return RedirectResponse(flash_url("/review", code, appeal=appeal_id), 303)


@router.post("/review/records/{record_id}", dependencies=CSRF)
def review_record(request: Request, ctx: CtxDep, record_id: RecordPath,
                  confirmed: Annotated[str, Form(pattern="^(true|false)$")]):
    who = page_guard(ctx, request, "reviewer")
    try:
        out = appeals.review(record_id, ReviewIn(confirmed=confirmed == "true"), ctx, who)
    except (ServiceError, ValueError) as exc:
        status, reason = _refusal(exc)
        return _review(ctx, request, who, status, f"Not reviewed: {reason}")
    code = "record_confirmed" if out["status"] == "active" else "record_rejected"
    return RedirectResponse(flash_url("/review", code, record=record_id), 303)


@router.get("/audit-log", response_class=HTMLResponse)
def audit_page(request: Request, ctx: CtxDep, subject: str = ""):
    who = page_guard(ctx, request, "auditor")
    subject = "".join(c for c in subject[:64] if c.isalnum() or c in "._:-")
    data = audit.get_audit(ctx, "audit", who, subject=subject or None, action=None, page=1,
                           per_page=500)
    return page(ctx, "audit.html.j2", request, who, title="Audit log", items=data["items"],
                subject=subject)
