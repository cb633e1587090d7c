"""One revision of a server's traffic policy, ready to answer: the policy, a loaded
predictor per arm, and the router that picks an arm per caller.

A server swaps its whole `Routing` at once when the policy changes (see `deployment.py`),
so a request that read it finishes under the policy it started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodml.serve.policy import Arm, Policy
from prodml.serve.predictor import Predictor
from prodml.serve.router import Router


class Routing:
    """`policy` with the `predictors` loaded for its arms (by arm name). An arm whose
    version could not be loaded is absent: its callers are answered by the primary arm
    (a fallback). `deployment` is the name served, None when following an alias, and
    then nothing routing-related is logged."""

    def __init__(
        self, policy: Policy, predictors: Mapping[str, Predictor], deployment: str | None = None
    ) -> None:
        if policy.primary.name not in predictors:
            raise ValueError(f"The primary arm {policy.primary.name!r} must be loaded.")
        self.policy = policy
        self.predictors = dict(predictors)
        self.deployment = deployment
        self.primary_arm = policy.primary
        self.primary = predictors[policy.primary.name]
        self.shadows = [(a, predictors[a.name]) for a in policy.shadows if a.name in predictors]
        answering = [a for a in policy.arms if a.weight > 0]
        # The primary alone answering, and no shadow: every request takes it, unrouted. (A
        # canary at 100 % has one answering arm too, the candidate: that one is routed.)
        self.routed = [a.name for a in answering] != [self.primary_arm.name] or bool(self.shadows)
        self.router = Router(deployment or policy.model, policy)
        schema = self.primary.row_schema.model_json_schema()
        # Arms whose request rows differ from the primary's: their rows are validated
        # again by the arm's own schema before it scores them.
        self.own_schema = {
            name: p.row_schema
            for name, p in self.predictors.items()
            if p is not self.primary and p.row_schema.model_json_schema() != schema
        }
        self._tags = {a.name: self._tag(a) for a in policy.arms}

    @classmethod
    def alone(cls, predictor: Predictor) -> Routing:
        """One version answering everything, outside any deployment."""
        info = predictor.info
        return cls(Policy.single(info.name, info.version), {"stable": predictor})

    def pick(self, row: Mapping[str, Any], request_id: str) -> Arm:
        """The arm that answers a request whose first row is `row`."""
        return self.router.route(self.router.key_of(row, request_id))

    def tags(self, arm: str, *, fallback: str | None = None) -> dict[str, Any]:
        """What a logged row and its answer carry about their routing."""
        tags = self._tags[arm]
        return tags if fallback is None else {**tags, "fallback": fallback}

    def versions(self) -> dict[str, str]:
        return {a.name: a.version for a in self.policy.arms}

    def _tag(self, arm: Arm) -> dict[str, Any]:
        if self.deployment is None:
            return {}
        tags: dict[str, Any] = {"deployment": self.deployment, "arm": arm.name}
        if arm in self.policy.shadows:
            tags["shadow"] = True
        return tags
