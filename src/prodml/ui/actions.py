"""What a person may do from the console, the role each action needs, and doing it
through the same services the CLI calls (so each lands in the audit log the same way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prodml.errors import ConfigError, StateError
from prodml.govern.roles import APPROVE, OPERATE
from prodml.registry.promotion import allow
from prodml.ui.views import DeploymentView
from prodml.workspace import Workspace


@dataclass(frozen=True)
class Action:
    """A deployment's button: what it says, the permission it needs, whether the
    deployment's state offers it, and whether it takes traffic away from someone."""

    label: str
    permission: str
    offered: Callable[[DeploymentView], bool]
    danger: bool = False


DEPLOYMENT_ACTIONS: dict[str, Action] = {
    "promote": Action(
        "Promote the candidate", APPROVE, lambda d: d.in_rollout and d.policy.kind == "canary"
    ),
    "rollback": Action("Roll back", APPROVE, lambda d: d.in_rollout, danger=True),
    "pause": Action("Pause the rollout", OPERATE, lambda d: d.in_rollout and not d.policy.paused),
    "resume": Action("Resume", OPERATE, lambda d: d.policy.paused or bool(d.policy.stopped)),
    "stop": Action(
        "Stop the model (refuse every request)",
        OPERATE,
        lambda d: not d.policy.stopped,
        danger=True,
    ),
}


def perform(
    ws: Workspace, view: DeploymentView, action: str, *, actor: str, reason: str, seen: int
) -> None:
    """Take `action` on the deployment `view` shows; refused when it changed since the page
    the person acted on was drawn (at revision `seen`), or its state does not offer it."""
    if seen != view.revision:
        last = view.changes[0]
        raise StateError(
            f"Deployment {view.name!r} changed since your page was drawn (revision {seen}; "
            f"now {view.revision}: {last.action} by {last.actor}). Reload it and decide again."
        )
    if action not in DEPLOYMENT_ACTIONS or not DEPLOYMENT_ACTIONS[action].offered(view):
        raise StateError(
            f"Deployment {view.name!r} does not offer {action!r} now: reload the page to "
            "see its state."
        )
    name, rollouts, revision = view.name, ws.rollouts, seen
    if action == "promote":
        rollouts.promote(name, actor=actor, reason=reason, expected=revision)
    elif action == "rollback":
        rollouts.rollback(name, actor=actor, reason=reason, expected=revision)
    elif action == "pause":
        rollouts.pause(name, actor=actor, reason=reason)
    elif action == "resume":
        rollouts.resume(name, actor=actor, reason=reason)
    else:
        rollouts.stop(name, actor=actor, reason=reason, fallback="refuse")


def reason_given(reason: str) -> str:
    """The form's reason, refused when empty: every action from the console says why."""
    if not reason.strip():
        raise ConfigError("Say why (the reason field): every action is recorded with it.")
    return reason.strip()


def grant_exception(ws: Workspace, ref: str, actor: str, reason: str) -> None:
    """An approver's exception to the fairness check for version `ref`."""
    allow(
        ref,
        reason=reason,
        actor=actor,
        now=ws.clock.now(),
        registry=ws.registry,
        tracker=ws.tracker,
    )


def make_champion(ws: Workspace, ref: str, actor: str, reason: str) -> None:
    """Point `champion` at version `ref`: servers following the alias switch."""
    ws.registry.promote(ref, "champion", now=ws.clock.now(), actor=actor, reason=reason)
