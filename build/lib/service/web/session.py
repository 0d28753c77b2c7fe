"""Page sessions: the web page works when API keys are on, without a key in the page.

With ``DOCKFAQ_PAGE_PUBLIC=true`` (and ``DOCKFAQ_API_KEYS`` set), ``GET /`` hands the browser a
signed cookie: ``<session id>.<issued at>.<HMAC-SHA256>``, HttpOnly and SameSite=Strict. Only
the routes the page calls (``ROUTES``) accept it, only from the page's own origin, and under
their own rate limit (``DOCKFAQ_PAGE_RATE_LIMIT``, per client address: a new session is one
page load away, so counting per session would limit nothing). The conversations a session
starts belong to it, like a key's belong to the key.

The signing key is derived from the API keys and the admin key, so every replica with the same
configuration accepts the same cookies, and changing the keys ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "dockfaq_session"
# The routes a page session may call (route templates): what the page itself uses.
ROUTES = frozenset(
    {
        "/chat/stream",
        "/search",
        "/feedback",
        "/entries/{entry_id}/feedback",
        "/conversations/{conversation_id}",
    }
)
# A cookie older than this is re-signed (same session) when the page is loaded again.
REFRESH_AFTER = 86400
_ID_CHARS = 32
PAGE = "page:"  # how page sessions' owners begin


class PageSessions:
    """Issues and checks page session cookies that live ``lifetime`` seconds."""

    def __init__(self, keys: list[str], lifetime: int) -> None:
        material = "\n".join(sorted(keys)).encode()
        self._key = hmac.new(material, b"dockfaq page session", hashlib.sha256).digest()
        self.lifetime = lifetime

    def issue(self, session: str | None = None, at: float | None = None) -> str:
        """A cookie value for ``session`` (a new one when None), issued ``at`` (default now)."""
        session = session or secrets.token_hex(_ID_CHARS // 2)
        body = f"{session}.{int(time.time() if at is None else at)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, value: str, at: float | None = None) -> tuple[str, int] | None:
        """(session id, issued at) of a valid, unexpired cookie value; None otherwise."""
        session, _, rest = value.partition(".")
        issued, _, mac = rest.partition(".")
        if len(session) != _ID_CHARS or not issued.isascii() or not issued.isdigit():
            return None
        if len(issued) > 12 or not hmac.compare_digest(mac, self._sign(f"{session}.{issued}")):
            return None
        age = (time.time() if at is None else at) - int(issued)
        return (session, int(issued)) if -60 <= age <= self.lifetime else None

    def owner(self, request: Request) -> str | None:
        """The owner of a request carrying a valid cookie, on a page route, sent by the page
        itself; None otherwise."""
        route = getattr(request.scope.get("route"), "path", None)
        if route not in ROUTES or not _same_origin(request):
            return None
        found = self.verify(request.cookies.get(COOKIE, ""))
        return owner_of(found[0]) if found else None

    def refresh(self, request: Request, response: Response) -> None:
        """Give the page a cookie: a new session, or the same one re-signed once it is a day
        old. Secure when the request came over HTTPS."""
        found = self.verify(request.cookies.get(COOKIE, ""))
        if found and time.time() - found[1] < REFRESH_AFTER:
            return
        response.set_cookie(
            COOKIE,
            self.issue(found[0] if found else None),
            max_age=self.lifetime,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


def owner_of(session: str) -> str:
    """A session's conversations are stored under a hash of its id, never the id."""
    return PAGE + hashlib.sha256(session.encode()).hexdigest()[:32]


def _same_origin(request: Request) -> bool:
    # SameSite=Strict already keeps the cookie off other sites' requests; browsers also say
    # where a request comes from, and anything but the page's own origin is refused.
    return request.headers.get("sec-fetch-site", "same-origin") == "same-origin"
