"""API tokens: issued with a role (and optionally one model), shown once, stored only as
the SHA-256 of their secret, revocable, expiring. A token reads `pml_<id>_<secret>`: the
id finds the stored record, the secret proves the holder. Issuing and revoking are
recorded in the audit log.

SHA-256 rather than a slow password hash: the secret is 256 random bits, not a password
a person chose, so there is nothing to guess faster, and every request can afford it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from prodml.clock import Clock
from prodml.errors import AuthError, ConfigError, NotFoundError
from prodml.govern.audit import AuditLog
from prodml.govern.roles import ROLES, Principal
from prodml.store import MetadataStore, TokenRecord

PREFIX = "pml"
DEFAULT_LIFETIME = timedelta(days=90)
_FORMAT = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")


class Tokens:
    """Issues, checks and revokes the tokens kept in `metadata`, recording in `audit`."""

    def __init__(self, metadata: MetadataStore, audit: AuditLog, clock: Clock) -> None:
        self.metadata, self.audit, self.clock = metadata, audit, clock

    def create(
        self,
        role: str,
        *,
        name: str,
        actor: str,
        model: str | None = None,
        lifetime: timedelta | None = DEFAULT_LIFETIME,
    ) -> tuple[TokenRecord, str]:
        """A new token and its secret (the only time the secret exists outside its
        holder's hands). `lifetime` None: it never expires."""
        if role not in ROLES:
            raise ConfigError(f"Unknown role {role!r}; the roles are: {', '.join(ROLES)}.")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = self.clock.now()
        record = TokenRecord(
            id=token_id,
            secret_hash=_digest(secret),
            role=role,
            model=model,
            name=name,
            created_by=actor,
            created_at=now,
            expires_at=None if lifetime is None else now + lifetime,
        )
        self.metadata.add_token(record)
        expires = record.expires_at.isoformat() if record.expires_at else "never"
        self.audit.record(
            actor,
            "token.create",
            f"token/{token_id}",
            f"a {role} token for {name}" + (f", model {model}" if model else ""),
            {"role": role, "model": model, "expires_at": expires},
        )
        return record, f"{PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> Principal:
        """Who holds `token`; `AuthError` saying why not (never whether the id exists)."""
        match = _FORMAT.match(token.strip())
        if match is None:
            raise AuthError(
                "The token is malformed: a prodml token reads pml_<12 hex digits>_<43 "
                "characters>, as `prodml auth token create` printed it."
            )
        token_id, secret = match.groups()
        record = self.metadata.token(token_id)
        if record is None or not hmac.compare_digest(record.secret_hash, _digest(secret)):
            raise AuthError(f"Token {token_id} is not a valid token; ask an admin for one.")
        if record.revoked_at is not None:
            raise AuthError(
                f"Token {token_id} was revoked at {record.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
        if record.expires_at is not None and record.expires_at <= self.clock.now():
            raise AuthError(
                f"Token {token_id} expired at {record.expires_at:%Y-%m-%d %H:%M} UTC; ask an "
                "admin for a new one."
            )
        return Principal(f"{record.name} (token {token_id})", record.role, record.model)

    def revoke(self, token_id: str, *, actor: str, reason: str = "") -> None:
        """Revoke token `token_id` from now on."""
        if not self.metadata.revoke_token(token_id, self.clock.now()):
            record = self.metadata.token(token_id)
            if record is None:
                raise NotFoundError(
                    f"No token {token_id}; `prodml auth token list` shows the tokens."
                )
            return  # revoked already: nothing more to do or record
        self.audit.record(actor, "token.revoke", f"token/{token_id}", reason)

    def list(self) -> list[TokenRecord]:
        return self.metadata.list_tokens()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
