"""A model's retraining policy judged against its state: which triggers fire and which
guards hold a retrain back. Pure functions of what the controller read, so every branch
is tested without training anything."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prodml.settings import PolicySettings

DEMAND = "demand"  # a person asked (`prodml ct retrain`)


def policy_version(policy: PolicySettings) -> str:
    """A short hash of every rule of `policy`: what decisions and the audit log cite."""
    text = json.dumps(policy.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class State:
    """What a controller knows of a model when it judges whether to retrain."""

    now: datetime
    last_trained: datetime | None  # when the last retrain began (None: never retrained)
    retrains_in_period: int  # retrains begun within the policy's period_days
    new_labels: int  # labelled production rows since the last training's data
    training_rows: int  # rows the champion learned from
    firing: tuple[str, ...] = ()  # alert rules firing on the champion since it went live
    requested: str | None = None  # why a person asked for a retrain, if one did
    rollout: str | None = None  # the deployment whose rollout of this model is under way


@dataclass(frozen=True)
class Evaluation:
    """The triggers that fired and the guards that hold; a retrain goes ahead only with
    some trigger and no guard."""

    triggers: list[str] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)

    @property
    def retrain(self) -> bool:
        return bool(self.triggers) and not self.guards

    def sentence(self) -> str:
        if not self.triggers:
            return "no trigger: " + (self.guards[0] if self.guards else "nothing changed enough")
        why = "; ".join(self.triggers)
        if self.guards:
            return f"triggered ({why}) but held: {'; '.join(self.guards)}"
        return f"triggered: {why}"


def evaluate(policy: PolicySettings, state: State) -> Evaluation:
    """Which of `policy`'s triggers fire on `state`, and which of its guards hold."""
    return Evaluation(triggers(policy, state), guards(policy, state))


def triggers(policy: PolicySettings, state: State) -> list[str]:
    """Why a retrain is due, one sentence per trigger that fired."""
    rules = policy.triggers
    fired = []
    if state.requested is not None:
        fired.append(f"{DEMAND}: {state.requested}")
    alerts = [a for a in state.firing if a in rules.alerts]
    if alerts:
        fired.append(f"alert firing: {', '.join(alerts)}")
    if rules.new_labels is not None and state.new_labels >= rules.new_labels:
        fired.append(f"{state.new_labels:,} new labelled rows (≥ {rules.new_labels:,})")
    if rules.new_labels_share is not None and state.training_rows:
        share = state.new_labels / state.training_rows
        if share >= rules.new_labels_share:
            fired.append(
                f"{state.new_labels:,} new labelled rows, {share:.0%} of the "
                f"{state.training_rows:,} trained on (≥ {rules.new_labels_share:.0%})"
            )
    if rules.schedule_days is not None and state.last_trained is not None:
        age = state.now - state.last_trained
        if age >= timedelta(days=rules.schedule_days):
            fired.append(
                f"schedule: {_days(age)} since the last retrain (every {rules.schedule_days:g} d)"
            )
    return fired


def guards(policy: PolicySettings, state: State) -> list[str]:
    """What holds a retrain back, one sentence per guard; a person's demand passes the
    cool-down and the budget, never a rollout in progress or too few labels."""
    rules = policy.guards
    held = []
    if state.rollout is not None:
        held.append(f"a rollout of deployment {state.rollout!r} is in progress")
    if state.new_labels < rules.min_new_labels:
        held.append(
            f"{state.new_labels:,} new labelled rows, fewer than min_new_labels "
            f"({rules.min_new_labels:,})"
        )
    if state.requested is None:
        if state.last_trained is not None:
            since = state.now - state.last_trained
            if since < timedelta(days=rules.cooldown_days):
                held.append(
                    f"cooling down: {_days(since)} since the last retrain "
                    f"(cooldown_days {rules.cooldown_days:g})"
                )
        if state.retrains_in_period >= rules.max_retrains:
            held.append(
                f"{state.retrains_in_period} retrains in the last {rules.period_days:g} days "
                f"(max_retrains {rules.max_retrains})"
            )
    return held


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f} days"
