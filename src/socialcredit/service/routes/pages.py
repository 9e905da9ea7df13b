"""The web pages: the public list, log-in, a subject's file and appeals, the review
queue and the audit log, over the same functions as the API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote_plus

import jinja2
from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from socialcredit.service._auth import Actor, CtxDep, actor_of
from socialcredit.service._errors import ServiceError
from socialcredit.service._schemas import AppealIn, DecisionIn, ReviewIn
from socialcredit.service.routes import appeals, audit, public, subjects

router = APIRouter(include_in_schema=False)

_PAGES = jinja2.Environment(loader=jinja2.PackageLoader("socialcredit.service", "templates"),
                            autoescape=True, undefined=jinja2.StrictUndefined)


class LoginNeeded(Exception):
    """A page needs a token of another role: send the reader to the login page."""


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    async def _to_login(_request: Request, _exc: Exception) -> RedirectResponse:
        return RedirectResponse("/login?flash=Please+log+in+with+a+suitable+token", 303)


def page_actor(ctx: Any, request: Request) -> Actor | None:
    token = request.cookies.get("sc_token")
    if not token:
        return None
    try:
        return actor_of(ctx, f"Bearer {token}")
    except ServiceError:
        return None


def page(ctx: Any, name: str, request: Request, who: Actor | None, status: int = 200,
         **kw: Any) -> HTMLResponse:
    html = _PAGES.get_template(name).render(
        who=who, policy_version=ctx.version, flash=request.query_params.get("flash"),
        error=kw.pop("error", None), title=kw.pop("title", name.split(".")[0]), **kw)
    return HTMLResponse(html, status_code=status)


def page_guard(ctx: Any, request: Request, *roles: str) -> Actor:
    who = page_actor(ctx, request)
    if who is None or who.role not in roles:
        raise LoginNeeded
    return who


def _q(text: str) -> str:
    return quote_plus(text[:200])


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


@router.post("/login")
def login(request: Request, ctx: CtxDep, token: Annotated[str, Form(max_length=200)]):
    try:
        who = actor_of(ctx, f"Bearer {token.strip()}")
    except ServiceError:
        return page(ctx, "login.html.j2", request, None, 401, title="Log in",
                    error="Unknown token.")
    target = {"subject": "/me", "reviewer": "/review", "auditor": "/audit-log"}.get(
        who.role, "/public")
    resp = RedirectResponse(target, 303)
    resp.set_cookie("sc_token", token.strip(), httponly=True, samesite="strict")
    return resp


@router.post("/logout")
def logout() -> RedirectResponse:
    resp = RedirectResponse("/public?flash=Logged+out", 303)
    resp.delete_cookie("sc_token")
    return resp


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, ctx: CtxDep):
    who = page_guard(ctx, request, "subject")
    state = subjects.get_subject(who.subject, ctx, "subject_access", who)
    file = subjects.get_file(who.subject, ctx, "subject_access", who)
    return page(ctx, "me.html.j2", request, who, title="My file", state=state, file=file)


@router.post("/me/appeal")
def me_appeal(request: Request, ctx: CtxDep, record: Annotated[str, Form(max_length=128)],
              statement: Annotated[str, Form(max_length=10_000)]):
    who = page_guard(ctx, request, "subject")
    try:
        out = appeals.post_appeal(AppealIn(record=record, statement=statement), ctx, who)
    except (ServiceError, ValueError) as exc:
        return RedirectResponse(f"/me?flash=Appeal+not+opened:+{_q(str(exc))}", 303)
    return RedirectResponse(f"/me?flash=Appeal+{out['id']}+opened+on+{_q(record)}", 303)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, ctx: CtxDep):
    who = page_guard(ctx, request, "reviewer")
    return page(ctx, "review.html.j2", request, who, title="Review queue",
                queue=appeals.queue(ctx, "review", who))


@router.post("/review/appeals/{appeal_id}")
def review_appeal(request: Request, ctx: CtxDep, appeal_id: int,
                  upheld: Annotated[str, Form(pattern="^(true|false)$")],
                  note: Annotated[str, Form(max_length=10_000)]):
    who = page_guard(ctx, request, "reviewer")
    try:
        out = appeals.decide(appeal_id, DecisionIn(upheld=upheld == "true", note=note), ctx,
                             who)
    except (ServiceError, ValueError) as exc:
        return RedirectResponse(f"/review?flash=Not+decided:+{_q(str(exc))}", 303)
    return RedirectResponse(f"/review?flash=Appeal+{appeal_id}+{out['status']}", 303)


@router.post("/review/records/{record_id}")
def review_record(request: Request, ctx: CtxDep, record_id: str,
                  confirmed: Annotated[str, Form(pattern="^(true|false)$")]):
    who = page_guard(ctx, request, "reviewer")
    try:
        out = appeals.review(record_id, ReviewIn(confirmed=confirmed == "true"), ctx, who)
    except (ServiceError, ValueError) as exc:
        return RedirectResponse(f"/review?flash=Not+reviewed:+{_q(str(exc))}", 303)
    return RedirectResponse(f"/review?flash=Record+{_q(record_id)}+{out['status']}", 303)


@router.get("/audit-log", response_class=HTMLResponse)
def audit_page(request: Request, ctx: CtxDep, subject: str = ""):
    who = page_guard(ctx, request, "auditor")
    subject = "".join(c for c in subject[:64] if c.isalnum() or c in "._:-")
    data = audit.get_audit(ctx, "audit", who, subject=subject or None, action=None, page=1,
                           per_page=500)
    return page(ctx, "audit.html.j2", request, who, title="Audit log", items=data["items"],
                subject=subject)
