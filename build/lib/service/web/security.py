"""API keys, the admin key and rate limits, as FastAPI dependencies."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from service.web.session import PAGE
from service.web.state import RateLimiter, SettingsDep, app_state

_bearer = HTTPBearer(auto_error=False)
_OWNER = "dockfaq.owner"  # where owner() keeps its answer in the request's scope
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _matches(given: str, keys: list[str]) -> bool:
    # Constant-time comparison: a timing side channel must not reveal a key.
    return any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


async def require_api_key(request: Request, settings: SettingsDep, credentials: BearerDep) -> None:
    """Only mounted when DOCKFAQ_API_KEYS is set, so the OpenAPI schema says what is true.
    A page session (session.py) stands in for a key on the page's routes, under its own limit."""
    given = credentials.credentials if credentials else ""
    if given and (_matches(given, settings.api_key_list) or _is_admin(given, settings.admin_key)):
        return
    if not given and owner(request).startswith(PAGE):
        await _limit(request, app_state(request).page_limiter, f"page:{_address(request)}")
        return
    raise HTTPException(
        401,
        "a valid API key is required (Authorization: Bearer <key>)",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def rate_limit(request: Request) -> None:
    """Counts the caller against DOCKFAQ_RATE_LIMIT: by API key when it is a valid one, else by
    IP. It runs before the key check, so wrong keys count against their sender's address. The
    limiter's keys (Redis key names) hold a hash of the API key, never the key. Page sessions
    count against their own limit instead (require_api_key)."""
    limiter = app_state(request).limiter
    if limiter is None:
        return
    caller = owner(request)
    if caller.startswith(PAGE):
        return
    identity = f"key:{caller}" if caller else f"ip:{_address(request)}"
    await _limit(request, limiter, identity)


def owner(request: Request) -> str:
    """Whom a conversation belongs to: a hash of the caller's valid API key, the page session's
    owner (session.owner_of), or "" when keys are off (or the key is the admin's: every such
    caller shares the empty owner). Routes call it with their Request: as a FastAPI dependency
    it cost a tenth of a cached answer. Worked out once per request: the rate limit, the key
    check and the route all ask."""
    found: str | None = request.scope.get(_OWNER)
    if found is None:
        found = request.scope[_OWNER] = _owner(request)
    return found


def _owner(request: Request) -> str:
    keys = app_state(request).settings.api_key_list
    if not keys:
        return ""
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if given:
        return key_hash(given) if _matches(given, keys) else ""
    return _page_owner(request)


def _page_owner(request: Request) -> str:
    sessions = app_state(request).sessions
    return (sessions.owner(request) or "") if sessions else ""


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


async def require_admin(settings: SettingsDep, credentials: BearerDep) -> None:
    """The admin key, or 403 for an API key (admin routes are mounted only with an admin key)."""
    given = credentials.credentials if credentials else ""
    if not given:
        raise HTTPException(
            401,
            "the admin key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not _is_admin(given, settings.admin_key):
        if _matches(given, settings.api_key_list):
            raise HTTPException(403, "this API key may not use the admin routes")
        raise HTTPException(401, "invalid admin key", headers={"WWW-Authenticate": "Bearer"})


def _is_admin(given: str, admin_key: str) -> bool:
    return bool(admin_key) and hmac.compare_digest(given.encode(), admin_key.encode())


async def _limit(request: Request, limiter: RateLimiter | None, identity: str) -> None:
    if limiter is None:
        return
    if app_state(request).settings.redis_url:  # a network call: not on the event loop
        await run_in_threadpool(_hit, limiter, identity)
    else:
        _hit(limiter, identity)


def _hit(limiter: RateLimiter, identity: str) -> None:
    strategy = limiter.strategy
    for limit in limiter.limits:
        if not strategy.hit(limit, identity):
            reset, _ = strategy.get_window_stats(limit, identity)
            retry = max(1, int(reset - time.time() + 0.999))
            raise HTTPException(
                429,
                f"rate limit exceeded ({limit}); retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )


ApiKeyDep = Depends(require_api_key)
RateLimitDep = Depends(rate_limit)
AdminDep = Depends(require_admin)
