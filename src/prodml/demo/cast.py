"""The demo's cast: a token per role, issued by the demo's own admin, so that every step
is done, and recorded in the audit log, by the person whose role allows it, and every
HTTP request carries a token as it would with governance.auth on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from prodml.workspace import Workspace

ROLES = ("admin", "data-engineer", "data-scientist", "approver", "operator", "client", "labeler")
LIFETIME = timedelta(hours=6)  # long enough for the demo, short enough to leave no key behind


@dataclass
class Cast:
    """The tokens (by role) and the names the audit log records them under."""

    tokens: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @contextmanager
    def acting(self, ws: Workspace, role: str) -> Iterator[str]:
        """What `ws` records meanwhile, it records as done by the holder of `role`."""
        before, ws.audit.actor = ws.audit.actor, self.names[role]
        try:
            yield self.names[role]
        finally:
            ws.audit.actor = before


def issue_cast(ws: Workspace) -> Cast:
    """A token for each role in `ROLES`, the admin's first (it issues the others)."""
    cast = Cast()
    for role in ROLES:
        issuer = cast.names.get("admin", "prodml demo")
        _, secret = ws.tokens.create(role, name=f"demo {role}", actor=issuer, lifetime=LIFETIME)
        cast.tokens[role] = secret
        cast.names[role] = ws.tokens.authenticate(secret).name
    return cast
