"""A deployment's traffic policy: which versions of one model answer, and in what shares.

- `single`: one version answers everything (what `prodml serve NAME@ALIAS` does);
- `canary`: a `stable` and a `candidate` arm; the candidate's share follows `steps`
  (e.g. 5 → 25 → 50 → 100 %), `step` saying where the rollout is;
- `ab`: two or more named arms with fixed weights, judged on a declared `metric`;
- `shadow`: `stable` answers everything; `candidate` scores a copy of the traffic that
  no caller sees (its weight is 0).

A caller sticks to one arm by a stable hash of its request's `key` field (the request id
when none is declared): see `router.py`. The metadata store keeps a policy as the plain
dict `Policy.model_dump()` gives, one row per change (`store.PolicyChange`).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STABLE, CANDIDATE = "stable", "candidate"
DEFAULT_STEPS = (0.05, 0.25, 0.5, 1.0)
Kind = Literal["single", "canary", "ab", "shadow"]


class Arm(BaseModel):
    """One version of the model and its share of the traffic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    version: str = Field(min_length=1)
    weight: float = Field(ge=0.0, le=1.0)


class Policy(BaseModel):
    """Which versions of `model` answer, and in what shares (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    model: str = Field(min_length=1)
    arms: tuple[Arm, ...] = Field(min_length=1)
    key: str | None = None  # the request field a caller sticks to an arm by
    steps: tuple[float, ...] = ()  # canary: the candidate's share at each step
    step: int = Field(default=0, ge=0)  # canary: the step the rollout is at
    step_seconds: float | None = Field(default=None, ge=0)  # canary: a step's least length
    metric: str | None = None  # ab: what the arms are judged on
    paused: bool = False  # the analysis neither advances nor rolls back a paused rollout
    # The kill switch: set, every prediction is refused with 503 and this message.
    stopped: str | None = None

    @classmethod
    def single(cls, model: str, version: str, *, key: str | None = None) -> Policy:
        return cls(
            kind="single", model=model, arms=(Arm(name=STABLE, version=version, weight=1),), key=key
        )

    @classmethod
    def canary(
        cls,
        model: str,
        stable: str,
        candidate: str,
        *,
        steps: tuple[float, ...] = DEFAULT_STEPS,
        key: str | None = None,
        step_seconds: float | None = None,
    ) -> Policy:
        """A canary at its first step; each step lasts at least `step_seconds` (default:
        rollouts.min_step_seconds)."""
        share = steps[0] if steps else 0.0
        return cls(
            kind="canary",
            model=model,
            arms=(
                Arm(name=CANDIDATE, version=candidate, weight=share),
                Arm(name=STABLE, version=stable, weight=1 - share),
            ),
            steps=steps,
            key=key,
            step_seconds=step_seconds,
        )

    @classmethod
    def shadow(cls, model: str, stable: str, candidate: str, *, key: str | None = None) -> Policy:
        return cls(
            kind="shadow",
            model=model,
            arms=(
                Arm(name=STABLE, version=stable, weight=1),
                Arm(name=CANDIDATE, version=candidate, weight=0),
            ),
            key=key,
        )

    @property
    def primary(self) -> Arm:
        """The arm that answers whenever another cannot: the stable version, or an A/B
        test's first arm when none of its arms is the stable one."""
        return next((a for a in self.arms if a.name == STABLE), self.arms[0])

    def describe(self) -> str:
        """One line for logs and tables, e.g. "canary: candidate (v4) 5%, stable (v3) 95%"."""
        arms = ", ".join(
            f"{a.name} (v{a.version})" + ("" if self.kind == "single" else f" {a.weight:.0%}")
            for a in self.arms
        )
        state = " (stopped: refusing every request)" if self.stopped else ""
        return f"{self.kind}: {arms}" + (" (paused)" if self.paused else "") + state

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        names = ", ".join(a.name for a in self.arms)
        raise KeyError(f"Policy of {self.model!r} has no arm {name!r}; its arms are {names}.")

    @property
    def shadows(self) -> tuple[Arm, ...]:
        """The arms that score a copy of the traffic and answer no one."""
        return tuple(a for a in self.arms if self.kind == "shadow" and a.name == CANDIDATE)

    def at_step(self, step: int) -> Policy:
        """This canary moved to `step` (the candidate's share from `steps`)."""
        if self.kind != "canary":
            raise ValueError(f"Only a canary has steps; this policy is {self.kind!r}.")
        if not 0 <= step < len(self.steps):
            raise ValueError(f"Step {step} is outside this canary's {len(self.steps)} steps.")
        share = self.steps[step]
        arms = (
            self.arm(CANDIDATE).model_copy(update={"weight": share}),
            self.arm(STABLE).model_copy(update={"weight": 1 - share}),
        )
        return self.model_copy(update={"arms": arms, "step": step})

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must differ; got {names}")
        # Over every arm: a shadow answers no one, so its weight must be 0 for this to hold.
        total = sum(a.weight for a in self.arms)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"the arms' weights must add up to 1; they add up to {total:g} (a shadow "
                "arm's weight is 0)"
            )
        if self.kind == "single" and len(self.arms) != 1:
            raise ValueError(f"a single policy has one arm; got {len(self.arms)}")
        if self.kind in ("canary", "shadow") and sorted(names) != [CANDIDATE, STABLE]:
            raise ValueError(
                f"a {self.kind} has the arms {CANDIDATE!r} and {STABLE!r}; got {names}"
            )
        if self.kind == "canary":
            self._check_steps()
        if self.kind == "ab" and (len(self.arms) < 2 or not self.metric):
            raise ValueError("an A/B test has two or more arms and a `metric` to judge them on")
        return self

    def _check_steps(self) -> None:
        steps = self.steps
        if not steps or any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError(
                f"canary steps must rise within (0, 1], e.g. 0.05,0.25,0.5,1; got {list(steps)}"
            )
        if self.step >= len(steps):
            raise ValueError(f"step {self.step} is past the canary's {len(steps)} steps")
        if not math.isclose(self.arm(CANDIDATE).weight, steps[self.step], abs_tol=1e-9):
            raise ValueError(
                f"the candidate's weight {self.arm(CANDIDATE).weight:g} is not its step's "
                f"share {steps[self.step]:g}"
            )
