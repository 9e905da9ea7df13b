"""The service's outer layer, one pure ASGI middleware: bodies over the size limit are
refused (413) before they are read; clients without a valid token are metered by a token
bucket per address (429 with Retry-After); and every HTTP response, including those two
refusals and the 500s of Starlette's error middleware, carries the security headers of
`_security`. One pass over the request headers does all three (three layers cost a
check more than its own work)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from socialcredit.service._auth import actor_of
from socialcredit.service._context import Ctx
from socialcredit.service._errors import ServiceError
from socialcredit.service._security import CACHEABLE, HEADERS
from socialcredit.service._tokens import hash_token

_RAW = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
_RAW_PRIVATE = [*_RAW, (b"cache-control", b"no-store")]
_DROP = frozenset(k.encode() for k in HEADERS)  # a route's own, replaced by ours
_DROP_PRIVATE = _DROP | {b"cache-control"}


class Guard:
    """Wraps the whole stack Starlette builds (see `install`)."""

    MAX_CLIENTS = 100_000

    def __init__(self, app: Any, ctx: Ctx, limit: int, rate: float, burst: float) -> None:
        self.app, self.ctx, self.limit = app, ctx, limit
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = authorization = None
        for k, v in scope["headers"]:
            if k == b"content-length":
                length = v
            elif k == b"authorization" and authorization is None:
                authorization = v
        if scope["path"].startswith(CACHEABLE):
            ours, drop = _RAW, _DROP
        else:
            ours, drop = _RAW_PRIVATE, _DROP_PRIVATE

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*(h for h in message.get("headers") or ()
                                        if h[0].lower() not in drop), *ours]
            await send(message)

        if length is not None and length.isdigit():
            if int(length) > self.limit:
                return await _refuse(send, ours, 413, f"request body over {self.limit} bytes")
            # the server reads no more than Content-Length says: nothing to count
        else:
            receive = self._counted(receive)
        if authorization is None or not self._verified(authorization):
            wait = self._metered((scope.get("client") or ("?", 0))[0])
            if wait:
                return await _refuse(send, ours, 429,
                                     "too many requests without a token; slow down",
                                     [(b"retry-after", str(wait).encode())])
        return await self.app(scope, receive, send_with_headers)

    def _counted(self, receive: Callable) -> Callable:
        """`receive`, refusing a body (without Content-Length) once it passes the limit."""
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ServiceError(f"request body over {self.limit} bytes")
            return message

        return limited

    def _verified(self, authorization: bytes) -> bool:
        """A request passes unmetered only with a valid token (verified as the routes
        verify it, and then held by the process); a made-up token is metered like
        none. The route checks it again (the change log first, and expiry)."""
        header = authorization.decode("latin-1")
        if hash_token(header.partition(" ")[2].strip()) in self.ctx.tokens:
            return True
        try:
            actor_of(self.ctx, header)
        except ServiceError:
            return False
        except Exception:  # noqa: BLE001 - metered; the route meets it and answers 500
            return False
        return True

    def _metered(self, client: str) -> int:
        """Take one from `client`'s bucket: 0 if it had one, else the seconds to wait."""
        now = time.monotonic()
        level, last = self.buckets.get(client, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        if level < 1:
            self.buckets[client] = (level, now)
            return max(1, int((1 - level) / self.rate + 0.999))
        if len(self.buckets) > self.MAX_CLIENTS:
            self.buckets.clear()
        self.buckets[client] = (level - 1, now)
        return 0


async def _refuse(send: Callable, ours: list, status: int, detail: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or []),
                            *ours]})
    await send({"type": "http.response.body", "body": body})


def install(app: Any, ctx: Ctx, limit: int, rate: float, burst: float) -> None:
    """Put the guard outside the whole stack Starlette builds (outside its error
    middleware and the exception handlers, so that 413, 429 and 500 answers carry the
    headers too)."""
    build = app.build_middleware_stack

    def build_with_guard() -> Any:
        return Guard(build(), ctx, limit, rate, burst)

    app.build_middleware_stack = build_with_guard
