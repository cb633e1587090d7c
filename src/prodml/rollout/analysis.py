"""One analysis pass over a deployment in rollout, as `prodml deploy tick` runs it (and
`prodml deploy watch`, every `rollouts.interval_seconds`).

It reads the prediction log since the rollout began, runs every check of `checks.py` on
the candidate against the stable version, and decides:

- roll back when any check fails: the policy goes back to the stable version, the
  candidate is tagged with the reason;
- for a canary whose step has lasted `min_step_seconds` and sent the candidate
  `min_step_rows`: advance to the next step, or promote after the last one (the
  candidate becomes `champion`, the policy `single`);
- else hold.

Each decision is recorded as the deployment's next revision with the figures of every
check, and only if the deployment is still at the revision it was made on: a person's
command in between wins. A paused rollout is not judged; nor is one whose metadata store
cannot be reached (the error reaches the caller, and nothing is decided blind).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from prodml.monitor.labels import join_labels
from prodml.monitor.reference import Reference
from prodml.monitor.traffic import META, PREDICTION, traffic_frame
from prodml.rollout.checks import ABSTAIN, DEFERS, FAIL, Arms, Check, run_checks
from prodml.rollout.commands import ANALYSIS, Rollouts
from prodml.rollout.experiment import Verdict, verdict
from prodml.serve.policy import CANDIDATE, Policy
from prodml.settings import RolloutSettings
from prodml.store import PolicyChange

STARTS = ("canary", "shadow", "ab")  # the actions that begin a rollout
STEP_STARTS = (*STARTS, "advance")
ADVANCE, PROMOTE, ROLLBACK, HOLD, IDLE, PAUSED = (
    "advance",
    "promote",
    "rollback",
    "hold",
    "idle",
    "paused",
)


@dataclass(frozen=True)
class Decision:
    """What one pass decided about deployment `deployment`, why, on which checks, and
    the change it recorded (None when there was nothing to decide)."""

    deployment: str
    action: str
    reason: str
    checks: list[Check] = field(default_factory=list)
    change: PolicyChange | None = None


class Analysis:
    """Judges the rollouts of `rollouts`' deployments from each model's prediction log
    (`records(model, since)`: its records answered since a time) and each version's drift
    reference (`reference_of(model, version)`, None when it has none)."""

    def __init__(
        self,
        rollouts: Rollouts,
        records: Callable[[str, datetime], pd.DataFrame],
        reference_of: Callable[[str, str], Reference | None],
        settings: RolloutSettings,
    ) -> None:
        self.rollouts = rollouts
        self.records = records
        self.reference_of = reference_of
        self.settings = settings

    def tick(self, name: str, by: str | None = None) -> Decision:
        """Judge deployment `name` once, and record what was decided (and, when given,
        `by` which process: the figures' `judged_by`)."""
        current, policy = self.rollouts.status(name)
        if policy.kind == "single":
            return Decision(name, IDLE, f"no rollout in progress ({policy.describe()})")
        if policy.paused:
            return Decision(name, PAUSED, f"paused by {current.actor}: {current.reason}")
        history = self.rollouts.metadata.deployment_history(name)
        started = _latest(history, STARTS)
        step_started = _latest(history, STEP_STARTS)
        traffic = self._traffic(name, policy, started.at)
        checks: list[Check] = []
        for arm in policy.arms:
            if arm.name != policy.primary.name:
                checks += self._checks(policy, arm.name, arm.version, traffic)
        figures = _figures(checks, policy) | ({"judged_by": by} if by else {})
        revision = current.revision
        failed = [c for c in checks if c.verdict == FAIL]
        if failed:
            also = f" (also failed: {', '.join(c.name for c in failed[1:])})" if failed[1:] else ""
            reason = f"{failed[0].name} check failed: {failed[0].reason}{also}"
            change = self.rollouts.rollback(
                name, actor=ANALYSIS, reason=reason, figures=figures, expected=revision
            )
            return Decision(name, ROLLBACK, reason, checks, change)
        if policy.kind == "canary":
            step_rows = _rows_since(traffic, CANDIDATE, step_started.at)
            elapsed = (self.rollouts.clock.now() - step_started.at).total_seconds()
            figures |= {"step_rows": step_rows, "step_seconds": elapsed}
            share = policy.steps[policy.step]
            least = policy.step_seconds
            least = self.settings.min_step_seconds if least is None else least
            labelled = _labelled(checks)
            wanted = self.settings.min_labelled_rows
            if any(c.figures.get(DEFERS) for c in checks):  # only outcomes can judge it
                wanted = max(wanted, self.settings.min_rows)
            figures["labelled_rows"] = labelled
            if elapsed >= least and step_rows >= self.settings.min_step_rows and labelled >= wanted:
                if policy.step + 1 == len(policy.steps):
                    reason = f"every check passed through the last step ({share:.0%})"
                    change = self.rollouts.promote(
                        name, actor=ANALYSIS, reason=reason, figures=figures, expected=revision
                    )
                    return Decision(name, PROMOTE, reason, checks, change)
                reason = (
                    f"every check passed at {share:.0%} ({step_rows:,} candidate rows in "
                    f"{_duration(elapsed)}); on to {policy.steps[policy.step + 1]:.0%}"
                )
                change = self.rollouts.advance(
                    name, actor=ANALYSIS, reason=reason, figures=figures, expected=revision
                )
                return Decision(name, ADVANCE, reason, checks, change)
            reason = (
                f"step {policy.step + 1} of {len(policy.steps)} ({share:.0%}): "
                f"{step_rows:,} of {self.settings.min_step_rows:,} candidate rows, "
                f"{_duration(elapsed)} of {_duration(least)}"
                + (f", {labelled:,} of {wanted:,} labelled rows per arm" if wanted else "")
            )
        elif policy.kind == "ab":
            verdicts = self._verdicts(policy, traffic)
            figures["verdicts"] = [_plain(asdict(v)) for v in verdicts]
            reason = "; ".join(v.sentence(policy.primary.name) for v in verdicts)
            reason += " (promote an arm or roll back by command)"
        else:
            reason = f"no check failed ({policy.kind}; promote or roll back by command)"
        change = self.rollouts.hold(name, reason=reason, figures=figures, expected=revision)
        return Decision(name, HOLD, reason, checks, change)

    def _traffic(self, name: str, policy: Policy, since: datetime) -> pd.DataFrame:
        """The deployment's logged rows since `since`, shadows included, labels joined.
        Only what came since is read: a tick costs the rollout's traffic, not the log's
        history (outcomes of those rows arrive after them)."""
        records = self.records(policy.model, since)
        if records.empty or "deployment" not in records:
            return pd.DataFrame(columns=list(META))
        frame = traffic_frame(records[records["deployment"].eq(name)], shadow=True)
        labels = self.rollouts.metadata.list_labels(policy.model, since=since)
        return join_labels(frame.reset_index(drop=True), labels)

    def _checks(self, policy: Policy, arm: str, version: str, traffic: pd.DataFrame) -> list[Check]:
        shadow = traffic["shadow"].eq(True) if "shadow" in traffic else False
        primary = policy.primary
        arms = Arms(
            candidate=traffic[traffic["arm"].eq(arm)],
            stable=traffic[traffic["arm"].eq(primary.name) & ~shadow],
            shadow=policy.kind == "shadow",
            candidate_estimator=self._estimator(policy.model, version),
            stable_estimator=self._estimator(policy.model, primary.version),
            candidate_validated=self._validated_scores(policy.model, version),
            stable_degraded=self._degraded(policy.model, primary.version),
        )
        checks = run_checks(arms, self.settings)
        if policy.kind == "ab":  # name the arm: an A/B test has several
            checks = [Check(f"{c.name}[{arm}]", c.verdict, c.reason, c.figures) for c in checks]
        return checks

    def _verdicts(self, policy: Policy, traffic: pd.DataFrame) -> list[Verdict]:
        """Each arm of an A/B test against its primary arm, on the declared metric (an
        arm's rows answered for by the primary are not its own)."""
        if "fallback" in traffic:
            traffic = traffic[traffic["fallback"].isna()]
        primary = traffic[traffic["arm"].eq(policy.primary.name)]
        return [
            verdict(
                arm.name,
                traffic[traffic["arm"].eq(arm.name)],
                primary,
                metric=policy.metric or "roc_auc",
                alpha=self.settings.alpha,
                min_effect=self.settings.ab_min_effect,
            )
            for arm in policy.arms
            if arm.name != policy.primary.name
        ]

    def _estimator(self, model: str, version: str) -> dict[str, Any] | None:
        reference = self.reference_of(model, version)
        return None if reference is None else reference.estimator

    def _degraded(self, model: str, version: str) -> str:
        """Why monitoring holds `version`'s own performance to have fallen: its firing
        performance or concept-drift alerts ("" when none fires)."""
        alerts = self.rollouts.metadata.list_alerts(model_name=model, status="firing")
        fallen = [
            a
            for a in alerts
            if str(a.detail.get("version")) == version
            and a.detail.get("monitor") in ("performance", "concept")
        ]
        return "; ".join(
            f"alert {a.rule} firing on it since {a.first_window_end:%Y-%m-%d}" for a in fallen
        )

    def _validated_scores(self, model: str, version: str) -> np.ndarray | None:
        """The scores `version` gave its held-out rows at registration (its reference's
        prediction column), or None when it has no reference."""
        reference = self.reference_of(model, version)
        column = None if reference is None else reference.columns.get(PREDICTION)
        return None if column is None else column.sorted_values


def _duration(seconds: float) -> str:
    """60 s, 5 min, 6.0 h: how long a step has lasted, readably."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _latest(history: list[PolicyChange], actions: tuple[str, ...]) -> PolicyChange:
    return next(c for c in reversed(history) if c.action in actions)


def _labelled(checks: list[Check]) -> int:
    """The labelled rows per arm the realized check judged (the fewer arm's; 0 before it
    judged any)."""
    found = [c for c in checks if c.name.startswith("realized") and c.verdict != ABSTAIN]
    return min((min(c.figures["n_candidate"], c.figures["n_stable"]) for c in found), default=0)


def _rows_since(traffic: pd.DataFrame, arm: str, since: datetime) -> int:
    if traffic.empty:
        return 0
    return int((traffic["arm"].eq(arm) & (traffic["timestamp"] >= pd.Timestamp(since))).sum())


def _figures(checks: list[Check], policy: Policy) -> dict[str, Any]:
    """What a decision is stored with: each check's verdict, reason and figures (JSON: a
    figure not known yet, such as an unbounded interval's end, is null)."""
    return {
        "policy": policy.describe(),
        "checks": {
            c.name: {"verdict": c.verdict, "reason": c.reason, **_plain(c.figures)} for c in checks
        },
    }


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, bool | np.bool_):
            out[key] = bool(value)
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            out[key] = float(value) if math.isfinite(value) else None
        else:
            out[key] = value
    return out
