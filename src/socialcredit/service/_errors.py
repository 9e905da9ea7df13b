"""Domain errors of the service, raised by the store and the routes alike, and their
HTTP mapping, in one place (`install`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    """A request the service refuses, with what to tell the client."""

    status = 400

    def __init__(self, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail, self.headers = detail, headers

    def __str__(self) -> str:
        if isinstance(self.detail, list):
            return "; ".join(str(e.get("msg", e)) for e in self.detail)
        return str(self.detail)


class Unauthorized(ServiceError):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, {"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """Unprocessable: `detail` is a list of {loc, type, msg}, or a sentence."""

    status = 422


class TooMany(ServiceError):
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})


def invalid(loc: list, kind: str, msg: str) -> Invalid:
    """One field's error, located as pydantic locates them."""
    return Invalid([{"loc": loc, "type": kind, "msg": msg}])


def install(app: FastAPI, on_refusal: Callable[[Request, int, str], Awaitable[None]]) -> None:
    """The HTTP answers: a domain error's status and detail; 400 for malformed JSON; 422
    for a body or parameter that does not validate (never pydantic's echo of the input,
    which may hold what the client should not see again). Every 401 and 403 goes to
    `on_refusal` (the audit log) before it is answered."""

    @app.exception_handler(ServiceError)
    async def _domain(request: Request, exc: ServiceError) -> JSONResponse:
        if exc.status in (401, 403):
            await on_refusal(request, exc.status, str(exc))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON: " + "; ".join(
                str(e.get("ctx", {}).get("error", e["msg"])) for e in errors)}, status_code=400)
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"],
                                         "type": e["type"]} for e in errors]},
                            status_code=422)
