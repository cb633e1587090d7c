"""Roles, what each may do, and the check every write makes.

A role is a set of permissions named after the work they allow; the roles follow the
people who work on a model (see `ROLES`). A principal is who is acting: a token's role
and, when the token is scoped, the one model it may touch.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodml.errors import ForbiddenError

READ, PREDICT, LABEL, INGEST, TRAIN, EXPERIMENT, APPROVE, OPERATE, OVERRIDE, ADMIN = (
    "read",  # models, runs, deployments, monitoring, the audit log
    "predict",  # /v1/predict and /v1/explain
    "label",  # feedback: realized outcomes
    "ingest",  # data, contracts, feature definitions
    "train",  # training runs, registering a version
    "experiment",  # canary, shadow and A/B rollouts of a candidate
    "approve",  # move champion, promote or roll back, sign off a fairness exception
    "operate",  # kill switch, pause and resume a rollout
    "override",  # replace the model's decision for one answered row (human oversight)
    "admin",  # tokens and roles
)
PERMISSIONS = (READ, PREDICT, LABEL, INGEST, TRAIN, EXPERIMENT, APPROVE, OPERATE, OVERRIDE, ADMIN)

ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({READ}),  # e.g. the product manager
    "client": frozenset({PREDICT}),  # an application asking for predictions
    "labeler": frozenset({LABEL}),
    "data-engineer": frozenset({READ, INGEST}),
    "data-scientist": frozenset({READ, TRAIN, EXPERIMENT}),
    "approver": frozenset({READ, APPROVE, OVERRIDE}),
    "operator": frozenset({READ, OPERATE}),
    "controller": frozenset({READ, TRAIN, EXPERIMENT, APPROVE}),  # continuous training
    "admin": frozenset(PERMISSIONS),
}


@dataclass(frozen=True)
class Principal:
    """Who is acting: `name` (for the audit log), their `role`, and the one `model` a
    scoped token may touch (None: any)."""

    name: str
    role: str
    model: str | None = None

    def may(self, permission: str, model: str | None = None) -> bool:
        in_scope = self.model is None or model is None or model == self.model
        return in_scope and permission in ROLES.get(self.role, frozenset())


def roles_with(permission: str) -> list[str]:
    """The roles that hold `permission`, for messages that say which one is needed."""
    return [role for role, held in ROLES.items() if permission in held]


def require(principal: Principal, permission: str, model: str | None = None) -> None:
    """Raise `ForbiddenError`, naming the roles that would do, unless `principal` may."""
    if not principal.may(permission, model):
        raise refusal(principal, permission, model)


def refusal(principal: Principal, permission: str, model: str | None) -> ForbiddenError:
    """Why `principal` may not take `permission` on `model`, and whom to ask."""
    if permission in ROLES.get(principal.role, frozenset()):
        return ForbiddenError(
            f"{principal.name}'s token is scoped to model {principal.model!r}, not "
            f"{model!r}. Ask an admin for a token of model {model!r}."
        )
    needed = ", ".join(r for r in roles_with(permission) if r != "admin") or "admin"
    return ForbiddenError(
        f"{principal.name} (role {principal.role}) may not {permission}: that needs the "
        f"role {needed}. Ask an admin: `prodml auth token create --role ROLE`."
    )
