"""The check at a server's door: a bearer token, who holds it, and whether their role
allows what they ask, at a dictionary lookup's cost for a token seen recently.

A token that authenticated is remembered for `cache_seconds` (the server's poll
interval), so a revocation or expiry takes effect within one poll. Failures are counted
per client: past `max_failures` in a minute, that client is answered 429 for any token it
has not already proven, so guessing is slowed to a crawl while its known callers go on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from prodml.errors import AuthError, RateLimitedError
from prodml.govern.roles import Principal, refusal
from prodml.govern.tokens import Tokens

WINDOW_SECONDS = 60.0
_MAX_CLIENTS = 10_000  # failing clients remembered at once; the oldest are forgotten
# Query parameters a token is sometimes sent in; a URL lands in access logs and browser
# history, so a token there is refused rather than used.
QUERY_NAMES = frozenset({"token", "access_token", "api_key", "apikey", "key"})


class Guard:
    """Authenticates `Authorization: Bearer` headers against `tokens` and checks roles."""

    def __init__(
        self,
        tokens: Tokens,
        *,
        cache_seconds: float = 10.0,
        max_failures: int = 10,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.cache_seconds = cache_seconds
        self.max_failures = max_failures
        self._now = now
        # The header's value -> (who, valid until): a header seen within `cache_seconds`
        # costs one lookup, not a parse and a database read.
        self._known: dict[str, tuple[Principal, float]] = {}
        self._failures: dict[str, deque[float]] = {}  # client -> times of recent failures

    def check(
        self,
        authorization: str | None,
        client: str,
        permission: str,
        model: str | None,
        *,
        where: str = "",
    ) -> Principal:
        """Who sent `authorization` (a header's value) from `client`, if they may take
        `permission` on `model`: else `AuthError` (401), `ForbiddenError` (403) or
        `RateLimitedError` (429). A refusal of a valid token is recorded in the audit
        log (`auth.denied`, naming `where`) and counts as a failure of its client."""
        principal = self.authenticate(authorization, client)
        if principal.may(permission, model):
            return principal
        now = self._now()
        self._refuse_if_locked(client, now)
        self._failed(client, now)
        denied = refusal(principal, permission, model)
        self.tokens.audit.record(
            principal.name,
            "auth.denied",
            f"model/{model}" if model else where,
            denied.message,
            {"permission": permission, "where": where, "client": client},
        )
        raise denied

    def known(
        self, authorization: str | None, permission: str, model: str | None
    ) -> Principal | None:
        """The holder of `authorization` if it was seen within `cache_seconds` and may take
        `permission` on `model`; None means: call `check`. A server's hot path: one lookup."""
        found = self._known.get(authorization) if authorization else None
        if found is not None and found[1] > self._now() and found[0].may(permission, model):
            return found[0]
        return None

    def authenticate(self, authorization: str | None, client: str) -> Principal:
        """Who sent `authorization` from `client` (see `check`)."""
        now = self._now()
        known = self._known.get(authorization) if authorization else None
        if known is not None and known[1] > now:
            return known[0]
        token = _bearer(authorization)
        self._refuse_if_locked(client, now)
        try:
            principal = self.tokens.authenticate(token)
        except AuthError:
            self._failed(client, now)
            raise
        if len(self._known) >= _MAX_CLIENTS:
            self._known.clear()
        self._known[str(authorization)] = (principal, now + self.cache_seconds)
        return principal

    def _refuse_if_locked(self, client: str, now: float) -> None:
        failures = self._failures.get(client)
        if failures is None:
            return
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        if len(failures) >= self.max_failures:
            wait = failures[0] + WINDOW_SECONDS - now
            raise RateLimitedError(
                f"{len(failures)} failed sign-ins from {client} in the last minute; try "
                f"again in {wait:.0f} s with a valid token.",
                retry_after=wait,
            )

    def _failed(self, client: str, now: float) -> None:
        if client not in self._failures and len(self._failures) >= _MAX_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(now)


def _bearer(authorization: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header's value."""
    if not authorization:
        raise AuthError(
            "No token: send it as the header `Authorization: Bearer <token>` (from `prodml "
            "auth token create`)."
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "The Authorization header must read `Bearer <token>`; other schemes are not accepted."
        )
    return token.strip()
