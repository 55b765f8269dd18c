"""Bearer tokens on every /v1 route: a token to read (unless `--anonymous-read`), a token
that is not read-only to write. No token or an unknown one is 401, a read-only token that
writes is 403."""

from __future__ import annotations

import time

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from results import auth
from results.auth import Principal

bearer = HTTPBearer(auto_error=False, description="a token from `bench token create`")
ANONYMOUS = Principal("anonymous", "anonymous", read_only=True)
_TOUCH_EVERY_S = 60.0


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def reader(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """Whoever may read: a valid token, or anyone when the server allows anonymous reads."""
    ctx = request.app.state.ctx
    if creds is None:
        if ctx.settings.anonymous_read:
            return ANONYMOUS
        raise _unauthorized("missing bearer token (Authorization: Bearer ...; see `bench token create`)")
    found = auth.verify(ctx.db, creds.credentials)
    if found is None:
        raise _unauthorized("invalid or revoked token")
    _touch(ctx, found.token_id)
    return found


def writer(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """Whoever may write: a valid token that is not read-only."""
    if creds is None:
        raise _unauthorized("missing bearer token: writing needs a token (see `bench token create`)")
    found = reader(request, creds)
    if found.read_only:
        raise HTTPException(403, detail=f"token '{found.name}' is read-only")
    return found


def _touch(ctx, token_id: str) -> None:
    # `last used` is a write: at most one per token per minute, so reads stay reads.
    now = time.time()
    with ctx.lock:
        if now - ctx.touched.get(token_id, 0.0) < _TOUCH_EVERY_S:
            return
        ctx.touched[token_id] = now
    auth.touch(ctx.db, token_id, now)
