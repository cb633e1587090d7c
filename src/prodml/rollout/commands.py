"""What a person (or, later, the analysis) does to a deployment: create it, start a canary,
an A/B test or a shadow, promote the candidate, roll it back. Each command reads the
deployment's state, makes the next policy and records it as the next revision with who,
why and when, so a command decided on state someone else changed meanwhile is refused
(`MetadataStore.change_policy`), never applied on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from prodml.clock import Clock
from prodml.errors import ConfigError, NotFoundError, StateError
from prodml.govern import AuditLog
from prodml.registry import ModelRegistry
from prodml.rollout.experiment import METRICS
from prodml.serve.policy import CANDIDATE, DEFAULT_STEPS, STABLE, Arm, Policy
from prodml.store import MetadataStore, PolicyChange

ANALYSIS = "analysis"  # the actor of decisions no person made
CHAMPION = "champion"


class Rollouts:
    """Deployments and their policies, over the metadata store and the model registry."""

    def __init__(
        self,
        metadata: MetadataStore,
        registry: ModelRegistry,
        clock: Clock,
        audit: AuditLog | None = None,
    ) -> None:
        self.metadata, self.registry, self.clock = metadata, registry, clock
        self.audit = audit  # where every change of policy is recorded too

    def status(self, name: str) -> tuple[PolicyChange, Policy]:
        """Deployment `name`'s newest change and the policy it set."""
        current = self.metadata.deployment(name)
        if current is None:
            known = ", ".join(d.deployment for d in self.metadata.list_deployments()) or "none"
            raise NotFoundError(
                f"No deployment named {name!r} (deployments: {known}). Create one with "
                f"`prodml deploy create {name} --model NAME@champion`."
            )
        return current, Policy.model_validate(current.policy)

    def create(
        self, name: str, model_ref: str, *, actor: str, reason: str = "", key: str | None = None
    ) -> PolicyChange:
        """A new deployment answering with the version `model_ref` names, alone."""
        if self.metadata.deployment(name) is not None:
            raise StateError(
                f"Deployment {name!r} exists already; `prodml deploy status {name}` shows it."
            )
        info = self.registry.resolve(model_ref)
        policy = Policy.single(info.name, info.version, key=key)
        why = reason or f"serve {info.ref}"
        return self._record(name, 1, policy, actor, "create", why)

    def canary(
        self,
        name: str,
        candidate_ref: str,
        *,
        actor: str,
        reason: str = "",
        steps: Sequence[float] = DEFAULT_STEPS,
        step_seconds: float | None = None,
    ) -> PolicyChange:
        """Expose `candidate_ref` to the first of `steps` of the traffic, the stable
        version answering the rest; each step lasts at least `step_seconds`."""
        current, policy = self._settled(name, "a canary")
        candidate = self._candidate(policy, candidate_ref)
        stable = policy.arm(STABLE).version
        new = Policy.canary(
            policy.model,
            stable,
            candidate,
            steps=tuple(steps),
            key=policy.key,
            step_seconds=step_seconds,
        )
        why = reason or f"canary of version {candidate} at {new.steps[0]:.0%}"
        return self._record(name, current.revision + 1, new, actor, "canary", why)

    def shadow(
        self, name: str, candidate_ref: str, *, actor: str, reason: str = ""
    ) -> PolicyChange:
        """Score a copy of the traffic with `candidate_ref`; only the stable version answers."""
        current, policy = self._settled(name, "a shadow")
        candidate = self._candidate(policy, candidate_ref)
        new = Policy.shadow(policy.model, policy.arm(STABLE).version, candidate, key=policy.key)
        why = reason or f"shadow of version {candidate}"
        return self._record(name, current.revision + 1, new, actor, "shadow", why)

    def ab(
        self,
        name: str,
        arms: Mapping[str, float],
        *,
        metric: str,
        actor: str,
        reason: str = "",
    ) -> PolicyChange:
        """An A/B test: each model reference of `arms` answers its weight of the callers
        (the stable version among them as `stable`, the others by version: `v4`)."""
        if metric not in METRICS:
            raise ConfigError(
                f"An A/B test is judged on one of {', '.join(METRICS)}; got {metric!r}."
            )
        current, policy = self._settled(name, "an A/B test")
        stable = policy.arm(STABLE).version
        built = []
        for ref, weight in arms.items():
            version = self.registry.resolve(_ref(policy.model, ref)).version
            built.append(
                Arm(
                    name=STABLE if version == stable else f"v{version}",
                    version=version,
                    weight=weight,
                )
            )
        new = Policy(
            kind="ab", model=policy.model, arms=tuple(built), key=policy.key, metric=metric
        )
        why = reason or "A/B test of " + ", ".join(f"{a.name} {a.weight:.0%}" for a in built)
        return self._record(name, current.revision + 1, new, actor, "ab", why)

    def advance(
        self,
        name: str,
        *,
        actor: str,
        reason: str = "",
        figures: Mapping[str, Any] | None = None,
        expected: int | None = None,
    ) -> PolicyChange:
        """A canary's candidate moved to its next step's share of the traffic."""
        current, policy = self._at(name, expected)
        if policy.kind != "canary" or policy.step + 1 >= len(policy.steps):
            raise StateError(
                f"Deployment {name!r} has no next step ({policy.describe()}); promote it instead."
            )
        new = policy.at_step(policy.step + 1)
        why = reason or f"candidate to {new.steps[new.step]:.0%}"
        return self._record(name, current.revision + 1, new, actor, "advance", why, figures)

    def hold(
        self,
        name: str,
        *,
        reason: str,
        figures: Mapping[str, Any] | None = None,
        expected: int | None = None,
    ) -> PolicyChange:
        """The analysis looked and changed nothing: recorded with what it looked at."""
        current, policy = self._at(name, expected)
        return self._record(name, current.revision + 1, policy, ANALYSIS, "hold", reason, figures)

    def pause(self, name: str, *, actor: str, reason: str = "") -> PolicyChange:
        """The analysis stops deciding; the traffic keeps its shares."""
        return self._paused(name, True, actor, reason)

    def resume(self, name: str, *, actor: str, reason: str = "") -> PolicyChange:
        """The analysis decides again; a deployment stopped with refusals answers again."""
        current, policy = self.status(name)
        if policy.stopped:
            new = policy.model_copy(update={"stopped": None, "paused": False})
            why = reason or "answering again after a stop"
            return self._record(name, current.revision + 1, new, actor, "resume", why)
        return self._paused(name, False, actor, reason)

    def stop(
        self, name: str, *, actor: str, reason: str, fallback: Literal["previous", "refuse"]
    ) -> PolicyChange:
        """The kill switch: from the servers' next poll, the version that answered before
        the one live now answers alone (`previous`), or every request is refused with 503
        (`refuse`, until `resume`). Either way a rollout in progress ends."""
        if not reason.strip():
            raise ConfigError("Say why the model is stopped (--reason); it is recorded.")
        current, policy = self.status(name)
        if policy.stopped:
            raise StateError(f"Deployment {name!r} is stopped already: {policy.stopped}")
        if fallback == "refuse":
            at = f"{self.clock.now():%Y-%m-%d %H:%M} UTC"
            message = (
                f"Model {policy.model} is stopped (deployment {name}, by {actor} at {at}): "
                f"{reason}. Callers are refused until `prodml deploy resume {name}`."
            )
            new = policy.model_copy(update={"stopped": message, "paused": True})
        else:
            version = self._previous(name, policy)
            new = Policy.single(policy.model, version, key=policy.key)
        figures = {"fallback": fallback, "stopped_version": policy.primary.version}
        return self._record(name, current.revision + 1, new, actor, "stop", reason, figures)

    def _previous(self, name: str, policy: Policy) -> str:
        """The version that answered deployment `name` before the one answering now."""
        live = {a.version for a in policy.arms}
        for change in reversed(self.metadata.deployment_history(name)):
            version = Policy.model_validate(change.policy).primary.version
            if version not in live:
                return version
        raise StateError(
            f"Deployment {name!r} has served no other version to fall back on; stop it with "
            "--fallback refuse, or create a canary of a version to replace it."
        )

    def promote(
        self,
        name: str,
        *,
        actor: str,
        reason: str = "",
        figures: Mapping[str, Any] | None = None,
        expected: int | None = None,
        arm: str | None = None,
    ) -> PolicyChange:
        """The candidate (an A/B test: `arm`) answers everything and becomes the model's
        `champion`."""
        current, policy = self._at(name, expected)
        if policy.kind == "single":
            raise StateError(f"Deployment {name!r} has no candidate to promote (one version).")
        if policy.kind == "ab" and arm is None:
            names = ", ".join(a.name for a in policy.arms)
            raise ConfigError(f"Name the A/B arm to promote (--arm): one of {names}.")
        version = policy.arm(arm or CANDIDATE).version
        new = Policy.single(policy.model, version, key=policy.key)
        why = reason or f"version {version} promoted to @{CHAMPION}"
        # The policy first: if someone changed the deployment meanwhile, this is refused
        # before the alias moves.
        change = self._record(name, current.revision + 1, new, actor, "promote", why, figures)
        self.registry.promote(
            f"{policy.model}/{version}", CHAMPION, now=self.clock.now(), actor=actor, reason=why
        )
        return change

    def rollback(
        self,
        name: str,
        *,
        actor: str,
        reason: str = "",
        figures: Mapping[str, Any] | None = None,
        expected: int | None = None,
    ) -> PolicyChange:
        """Back to the stable version alone. The reason is recorded with the change and
        on each version sent back, as its `prodml.rollback` tag."""
        current, policy = self._at(name, expected)
        if policy.kind == "single":
            raise StateError(
                f"Deployment {name!r} serves one version already; nothing to roll back."
            )
        stable = policy.arm(STABLE).version if STABLE in {a.name for a in policy.arms} else None
        if stable is None:
            raise StateError(
                f"Deployment {name!r} has no stable arm to go back to; promote one of its "
                "arms instead."
            )
        new = Policy.single(policy.model, stable, key=policy.key)
        why = reason or "rolled back"
        change = self._record(name, current.revision + 1, new, actor, "rollback", why, figures)
        for arm in policy.arms:
            if arm.version != stable:
                tag = f"{why} ({actor}, deployment {name}, {change.at:%Y-%m-%d %H:%M})"
                self.registry.set_tags(policy.model, arm.version, {"prodml.rollback": tag})
        return change

    def _at(self, name: str, expected: int | None) -> tuple[PolicyChange, Policy]:
        """The deployment's state, refused if it is no longer revision `expected` (what a
        decision was made on)."""
        current, policy = self.status(name)
        if expected is not None and current.revision != expected:
            raise StateError(
                f"Deployment {name!r} changed (revision {current.revision}, by "
                f"{current.actor}: {current.action}) since this was decided on revision "
                f"{expected}; decide again on its state now."
            )
        return current, policy

    def _paused(self, name: str, paused: bool, actor: str, reason: str) -> PolicyChange:
        current, policy = self.status(name)
        if policy.kind == "single":
            raise StateError(f"Deployment {name!r} has no rollout in progress to pause or resume.")
        if policy.paused == paused:
            raise StateError(f"Deployment {name!r} is {'paused' if paused else 'running'} already.")
        action = "pause" if paused else "resume"
        new = policy.model_copy(update={"paused": paused})
        why = reason or ("analysis paused" if paused else "analysis resumed")
        return self._record(name, current.revision + 1, new, actor, action, why)

    def _settled(self, name: str, starting: str) -> tuple[PolicyChange, Policy]:
        current, policy = self.status(name)
        if policy.kind != "single":
            raise StateError(
                f"Deployment {name!r} is in a {policy.kind} already; promote or roll it back "
                f"before starting {starting}."
            )
        return current, policy

    def _candidate(self, policy: Policy, ref: str) -> str:
        info = self.registry.resolve(_ref(policy.model, ref))
        if info.version == policy.arm(STABLE).version:
            raise ConfigError(
                f"Version {info.version} is the one serving already; name another as the candidate."
            )
        return info.version

    def _record(
        self,
        name: str,
        revision: int,
        policy: Policy,
        actor: str,
        action: str,
        reason: str,
        figures: Mapping[str, Any] | None = None,
    ) -> PolicyChange:
        change = PolicyChange(
            name,
            revision,
            policy.model_dump(mode="json"),
            actor,
            action,
            reason,
            self.clock.now(),
            dict(figures or {}),
        )
        self.metadata.change_policy(change)
        if self.audit is not None:  # only a change that took its revision is recorded
            target = f"deployment/{name}"
            figures = {"revision": revision, "policy": change.policy, **change.figures}
            self.audit.record(actor, f"deployment.{action}", target, reason, figures)
        return change


def _ref(model: str, ref: str) -> str:
    """A reference within `model`: "4", "@challenger" or a whole "NAME/4"."""
    if ref.isdigit():
        return f"{model}/{ref}"
    if ref.startswith("@"):
        return model + ref
    if not ref.startswith(model):
        raise ConfigError(f"{ref!r} is not a version of {model!r}; a deployment serves one model.")
    return ref
