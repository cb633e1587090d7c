"""Who is looking at the console, and the proof a form came from its own page.

With governance.auth on, a person signs in once with their token; it is kept in an
HttpOnly, SameSite=Strict cookie (never in a URL) and checked by the workspace's `Guard`
on every request, so a revoked token stops working within one cache interval. With auth
off the console is in local mode: whoever reaches it acts under this machine's user.

Every form carries a CSRF token: an HMAC of the visitor's session cookie under a key of
this process, so a page of another site can neither read nor forge it.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from prodml.errors import AuthError, ForbiddenError
from prodml.govern.guard import Guard
from prodml.govern.roles import Principal, refusal

TOKEN_COOKIE, SESSION_COOKIE = "prodml_token", "prodml_session"


@dataclass(frozen=True)
class Visitor:
    """Who is asking: their principal (None in local mode or before signing in), the CSRF
    token their forms carry, and the session cookie to set when they had none."""

    principal: Principal | None
    local: bool
    csrf: str
    new_session: str | None = None

    @property
    def name(self) -> str:
        if self.principal is not None:
            return self.principal.name
        return getpass.getuser()

    def may(self, permission: str, model: str | None = None) -> bool:
        """Whether the page should offer an action: everything in local mode."""
        return self.local or (self.principal is not None and self.principal.may(permission, model))


class Sessions:
    """Reads the visitor off a request and checks what their forms send."""

    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard  # None: governance.auth is off
        self._key = secrets.token_bytes(32)

    def visitor(self, request: Request) -> Visitor:
        """The visitor; `AuthError` when auth is on and their token is missing or no longer
        valid (the page then asks them to sign in)."""
        visitor = self.anonymous(request)
        if self.guard is None:
            return visitor
        token = request.cookies.get(TOKEN_COOKIE)
        if not token:
            raise AuthError("Sign in with your token to see this console.")
        principal = self.guard.authenticate(f"Bearer {token}", _client(request))
        return Visitor(principal, False, visitor.csrf, visitor.new_session)

    def anonymous(self, request: Request) -> Visitor:
        """The visitor before anyone checked who they are (the sign-in page's)."""
        session = request.cookies.get(SESSION_COOKIE)
        new = None if session else secrets.token_urlsafe(24)
        return Visitor(None, self.guard is None, self._csrf(session or str(new)), new)

    def sign_in(self, request: Request, token: str) -> Principal:
        """Who `token` belongs to (its failures counted against the client, like the API's)."""
        if self.guard is None:
            raise AuthError("governance.auth is off: there is nothing to sign in to.")
        return self.guard.authenticate(f"Bearer {token.strip()}", _client(request))

    def require(self, visitor: Visitor, form_csrf: str, permission: str, model: str | None) -> None:
        """Refuse a form with a wrong CSRF token, or from a visitor whose role lacks
        `permission` on `model` (recorded in the audit log as `auth.denied`)."""
        if not hmac.compare_digest(form_csrf.encode(), visitor.csrf.encode()):
            raise ForbiddenError(
                "This form's CSRF token does not match your session: reload the page and "
                "submit it again."
            )
        if visitor.local or visitor.principal is None:
            return
        if not visitor.principal.may(permission, model):
            denied = refusal(visitor.principal, permission, model)
            assert self.guard is not None
            self.guard.tokens.audit.record(
                visitor.principal.name,
                "auth.denied",
                f"model/{model}" if model else "console",
                denied.message,
                {"permission": permission, "where": "console"},
            )
            raise denied

    def _csrf(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()


def remember(response: Response, request: Request, *, session: str | None, token: str | None):
    """Set the session cookie (when new) and the signed-in token (when given) on `response`."""
    secure = request.url.scheme == "https"
    path = request.scope.get("root_path") or "/"
    for name, value in ((SESSION_COOKIE, session), (TOKEN_COOKIE, token)):
        if value:
            response.set_cookie(
                name, value, httponly=True, samesite="strict", secure=secure, path=path
            )
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
