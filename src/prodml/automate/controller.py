"""The continuous-training controller: one pass (`tick`) over a model judges its rollout,
finishes a retrain a killed controller left, and decides whether to retrain; a retrain
goes through the one training path, its gate, then a canary (or straight promotion).

Every decision, acted on or not, is stored with its figures (`ct_decisions`) and is an
audit event (`ct.<kind>`). A lock per model (`MetadataStore.exclusive`) keeps two
controllers from acting on one model at once; the loser of the race says so and leaves.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.automate.policy import Evaluation, State, evaluate, policy_version
from prodml.automate.production import Batch, labelled_rows, record_batch
from prodml.automate.recipe import RETRAINED, retrained
from prodml.errors import ProdmlError
from prodml.registry.registry import PII_TAG
from prodml.registry.reproduce import snapshot_ids
from prodml.rollout.analysis import HOLD, IDLE, PAUSED
from prodml.rollout.leader import Leader
from prodml.settings import PolicySettings
from prodml.store import Decision
from prodml.train.tabular import RECIPE_CONFIG_TAG, RECIPE_TAG

if TYPE_CHECKING:
    from prodml.registry import ModelVersionInfo
    from prodml.workspace import Workspace

logger = logging.getLogger(__name__)

CONTROLLER = "controller"  # the actor of decisions no person made
# Decision kinds, in the order a retrain's life goes through them.
POLICY, EVALUATED, SKIPPED, REQUESTED = "policy", "evaluated", "skipped", "requested"
RETRAINING, RETRAINED_KIND, FAILED = "retraining", "retrained", "failed"
ROLLOUT, ADVANCE, PROMOTE, ROLLBACK = "rollout", "advance", "promote", "rollback"
_OUTCOMES = (RETRAINED_KIND, FAILED)


@dataclass
class Tick:
    """What one pass over a model decided (`locked`: another controller held the model,
    so this one did nothing)."""

    model: str
    decisions: list[Decision] = field(default_factory=list)
    locked: bool = False


class Controller:
    """Continuous training of a workspace's models under `automate` in its settings."""

    def __init__(self, ws: Workspace, *, actor: str = CONTROLLER) -> None:
        self.ws = ws
        self.actor = actor

    def policy(self, model: str) -> PolicySettings:
        return self.ws.settings.automate.policy_for(model)

    def tick(self, model: str, *, on_step: Callable[[str], None] | None = None) -> Tick:
        """One pass over `model` (see the module docstring); `on_step` hears each phase."""
        say = on_step or (lambda _: None)
        tick = Tick(model)
        with self.ws.metadata.exclusive(f"continuous-training:{model}") as held:
            if not held:
                tick.locked = True
                return tick
            self.ws.registry.resolve(f"{model}@champion")  # a clear error for an unknown model
            record = self._recorder(model, tick)
            self._policy_changed(model, record)
            if self.ws.settings.automate.monitor:
                say("monitoring")
                self._monitor(model)
            say("rollouts")
            self._advance(model, record)
            unfinished = self._unfinished(model)
            if unfinished is not None:
                say("resuming an interrupted retrain")
                self._train(model, unfinished.figures, record, resumed=True)
                return tick
            state = self.state(model)
            evaluation = evaluate(self.policy(model), state)
            if not evaluation.retrain:
                kind = SKIPPED if evaluation.triggers else EVALUATED
                record(kind, evaluation.sentence(), _state_figures(state, evaluation))
                return tick
            say("retraining")
            plan = self._plan(model, state, evaluation, record)
            if plan is not None:
                self._train(model, plan, record)
        return tick

    def request(self, model: str, reason: str) -> Decision:
        """A person's demand for a retrain, taken by the next tick (past the cool-down
        and the budget, not past a rollout in progress or too few labels)."""
        self.ws.registry.resolve(f"{model}@champion")
        decision = Decision(model, self.ws.clock.now(), REQUESTED, reason, actor=self.actor)
        return self._store(decision)

    # -- what the controller knows --------------------------------------------------------

    def state(self, model: str) -> State:
        """`model`'s state as its policy judges it."""
        now = self.ws.clock.now()
        policy = self.policy(model)
        decisions = self.ws.metadata.list_decisions(model, kinds={RETRAINING, REQUESTED})
        retrains = [d for d in decisions if d.kind == RETRAINING]
        last = retrains[-1] if retrains else None
        since = timedelta(days=policy.guards.period_days)
        through = _parse(last.figures.get("labels_through")) if last else None
        since_last = decisions[decisions.index(last) + 1 :] if last else decisions
        asked = [d for d in since_last if d.kind == REQUESTED]
        champion = self.ws.registry.resolve(f"{model}@champion")
        return State(
            now=now,
            last_trained=last.at if last else None,
            retrains_in_period=sum(d.at >= now - since for d in retrains),
            new_labels=self.ws.metadata.count_labels(model, after=through),
            training_rows=_training_rows(champion),
            firing=self._firing(model, champion.version),
            requested=asked[-1].reason if asked else None,
            rollout=self._rollout_in_progress(model),
        )

    def _firing(self, model: str, version: str) -> tuple[str, ...]:
        alerts = self.ws.metadata.list_alerts(model_name=model, status="firing")
        return tuple(sorted({a.rule for a in alerts if str(a.detail.get("version")) == version}))

    def _deployments(self, model: str) -> list[str]:
        names = [d.deployment for d in self.ws.metadata.list_deployments()]
        return [n for n in names if self.ws.rollouts.status(n)[1].model == model]

    def _rollout_in_progress(self, model: str) -> str | None:
        for name in self._deployments(model):
            if self.ws.rollouts.status(name)[1].kind != "single":
                return name
        return None

    def _unfinished(self, model: str) -> Decision | None:
        """The newest retrain begun and never finished (its controller was killed)."""
        decisions = self.ws.metadata.list_decisions(model, kinds={RETRAINING, *_OUTCOMES})
        if decisions and decisions[-1].kind == RETRAINING:
            return decisions[-1]
        return None

    # -- the phases of a pass -------------------------------------------------------------

    def _policy_changed(self, model: str, record: _Record) -> None:
        """Record the policy when it differs from the one last recorded (an audited
        change, with both versions)."""
        policy = self.policy(model)
        version = policy_version(policy)
        known = self.ws.metadata.list_decisions(model, kinds={POLICY}, limit=1)
        before = known[0].figures.get("version") if known else None
        if before != version:
            what = "policy set" if before is None else f"policy changed from {before}"
            record(
                POLICY,
                f"{what} to {version}",
                {"version": version, "previous": before, "policy": policy.model_dump(mode="json")},
            )

    def _monitor(self, model: str) -> None:
        """A monitoring pass over the model's own log, so alerts are current; a model
        with no traffic yet has nothing to monitor."""
        if self.ws.prediction_log(model).count():
            self.ws.monitor(model)

    def _advance(self, model: str, record: _Record) -> None:
        """Judge each rollout of `model` once, as a server's leader would (sharing its
        lease, so a server already judging it is left to)."""
        interval = self.ws.settings.rollouts.interval_seconds
        for name in self._deployments(model):
            _, before = self.ws.rollouts.status(name)
            tried = [a.version for a in before.arms if a.name != before.primary.name]
            leader = Leader(self.ws.analysis, self.ws.metadata, name, interval, holder=self.actor)
            decision = leader.step()
            if decision is None or decision.action in (HOLD, IDLE, PAUSED):
                continue
            figures = {} if decision.change is None else decision.change.figures
            record(
                decision.action,
                f"deployment {name}: {decision.reason}",
                {"deployment": name, **figures},
                ",".join(tried) or None,
            )

    def _plan(
        self, model: str, state: State, evaluation: Evaluation, record: _Record
    ) -> dict[str, Any] | None:
        """Record the retrain about to begin with everything needed to finish it (so a
        killed controller's successor resumes it): the base recipe and snapshots, this
        batch of labelled production rows (ingested as a snapshot) and the split."""
        policy = self.policy(model)
        champion = self.ws.registry.resolve(f"{model}@champion")
        base = _base_recipe(champion)
        if base is None:
            record(
                SKIPPED,
                f"{evaluation.sentence()}; but {champion.ref} has no recorded recipe to "
                "retrain with (it was registered from a notebook): retrain it there",
                _state_figures(state, evaluation),
            )
            return None
        previous = self.ws.metadata.list_decisions(model, kinds={RETRAINING})
        after = _parse(previous[-1].figures.get("labels_through")) if previous else None
        _, trained = self.ws.registry.load(champion.ref)
        batch = labelled_rows(
            self.ws,
            model,
            [*trained.spec.names, *self.ws.settings.monitoring.sensitive],
            numeric=trained.spec.numeric,
            after=after,
            through=state.now,
            labelled_only_when=policy.labelled_only_when,
            feedback_rows=policy.feedback_rows,
            personal=json.loads(champion.tags.get(PII_TAG, "[]")),
        )
        broken = self._missing(model, champion, batch, policy.guards.max_missing_rise)
        if broken:
            record(
                SKIPPED,
                f"{evaluation.sentence()}; but not retraining on this batch: {broken}. A "
                "feature pipeline looks broken: mend it, then `prodml ct retrain`",
                {**_state_figures(state, evaluation), "batch": batch.figures},
            )
            return None
        batches = list(previous[-1].figures.get("batches", {}).items()) if previous else []
        if len(batch.rows):
            parents = [sid for _, sid in batches[-1:]] or list(base["snapshots"].values())
            snapshot = record_batch(self.ws, model, batch, parents=parents)
            batches.append((f"{model}.production.{len(batches) + 1}", snapshot.id))
        holdout_from = state.now - timedelta(days=policy.holdout_days)
        plan = {
            "recipe": base["recipe"],
            "config": base["config"],
            "inputs": list(base["snapshots"]),
            "snapshots": base["snapshots"],
            "batches": dict(batches),
            "holdout_from": holdout_from.isoformat(),
            "window": policy.window,
            "window_days": policy.window_days,
            "half_life_days": policy.half_life_days,
            "gate_margin": -policy.min_gain,
            "seed": len(previous),
        }
        record(
            RETRAINING,
            f"{evaluation.sentence()}; retraining {champion.ref} with {_said(batch)}",
            {
                **_state_figures(state, evaluation),
                "policy": policy_version(policy),
                "labels_through": state.now.isoformat(),
                "batch": batch.figures,
                "batches": dict(batches),
                "plan": plan,
            },
            champion.version,
        )
        return plan

    def _train(
        self, model: str, plan: Mapping[str, Any], record: _Record, *, resumed: bool = False
    ) -> None:
        """Train the planned retrain through the one training path (its gate judges it
        against the baselines and the champion on the held-out newest traffic), then
        start its rollout if it passed."""
        from prodml.workflow import train_and_register

        plan = plan.get("plan", plan)
        names = {**plan["snapshots"], **plan["batches"]}
        inputs = {name: self.ws.metadata.get_snapshot(sid) for name, sid in names.items()}
        config = {k: v for k, v in plan.items() if k != "snapshots"}
        again = " (resumed: an earlier controller stopped mid-retrain)" if resumed else ""
        try:
            with tempfile.TemporaryDirectory(prefix="prodml-retrain-") as work:
                frames = {name: self.ws.read_snapshot(s.id) for name, s in inputs.items()}
                recipe = retrained(frames, Path(work), config=config)
                registered = train_and_register(
                    self.ws, recipe, inputs=inputs, recorded_as=RETRAINED, config=config
                )
        except ProdmlError as exc:
            record(FAILED, f"retrain failed{again}: {exc.message}", {"error": exc.message})
            return
        gate = registered.gate
        version = registered.version
        verdict = "passed" if gate["passed"] else "failed"
        reasons = "; ".join(gate.get("reasons", [])) or _improvements(gate)
        suspect = self._weak_signal(model, registered) if gate["passed"] else ""
        held = f"; not released: {suspect}" if suspect else ""
        record(
            RETRAINED_KIND,
            f"{version.ref} trained{again}; gate {verdict}: {reasons}{held}",
            {"gate": _gate_figures(gate), "rows": _rows_of(registered), "held": suspect or None},
            version.version,
        )
        if gate["passed"] and not suspect:
            self._release(model, version, record)

    def _release(self, model: str, version: ModelVersionInfo, record: _Record) -> None:
        """A canary behind the deployment serving `model`, or (policy `promote`, or no
        deployment serves it) straight promotion to champion."""
        policy = self.policy(model)
        deployments = [d for d in self._deployments(model) if self._serves_alone(d)]
        if policy.rollout == "canary" and deployments:
            name = deployments[0]
            self.ws.rollouts.canary(
                name,
                version.version,
                actor=self.actor,
                steps=policy.steps,
                reason=f"continuous training: {version.ref} passed the gate",
            )
            record(
                ROLLOUT,
                f"canary of {version.ref} behind deployment {name}, steps {policy.steps}",
                {"deployment": name, "steps": policy.steps},
                version.version,
            )
            return
        why = "policy says promote" if policy.rollout == "promote" else "no deployment serves it"
        self.ws.registry.promote(
            version.ref, "champion", now=self.ws.clock.now(), actor=self.actor, reason=why
        )
        record(PROMOTE, f"{version.ref} promoted to champion straight ({why})", {}, version.version)

    def _missing(
        self, model: str, champion: ModelVersionInfo, batch: Batch, max_rise: float
    ) -> str:
        """The features missing in `max_rise` more of the batch's rows than of the rows
        the champion trained on (its reference), in words; "" when none is."""
        reference = self.ws.reference_or_none(model, champion.version)
        if reference is None or not len(batch.rows):
            return ""
        found = []
        for name, column in reference.columns.items():
            if name not in batch.rows:
                continue
            before = column.nulls / max(1, column.nulls + column.rows)
            now = float(batch.rows[name].isna().mean())
            if now - before >= max_rise:
                found.append(
                    f"{name} is missing in {now:.0%} of them against {before:.0%} in training"
                )
        if not found:
            return ""
        return f"of its {len(batch.rows):,} newly labelled rows, " + "; ".join(found)

    def _weak_signal(self, model: str, registered: Any) -> str:
        """Why the retrained classifier's lift over chance on the newest labels is too
        small a share of the champion's at registration (policy min_signal), or ""."""
        share = self.policy(model).guards.min_signal
        champion = self.ws.registry.resolve(f"{model}@champion")
        reference = self.ws.reference_or_none(model, champion.version)
        result = registered.result
        figure = reference.registered if reference is not None else None
        if result is None or not figure or figure.get("metric") != "roc_auc":
            return ""
        then = float(figure["value"])
        now = float(result.evaluations[result.best]["metrics"]["roc_auc"])
        if then <= 0.5 or (now - 0.5) >= share * (then - 0.5):
            return ""
        return (
            f"on the newest labels it reaches ROC AUC {now:.3f}, under {share:.0%} "
            f"of the way from chance (0.5) to the {then:.3f} {champion.ref} reached at "
            "registration: no model learns those outcomes, so they look corrupted (a label "
            "feed mixing up outcomes?). Check them, then `prodml ct retrain`"
        )

    def _serves_alone(self, deployment: str) -> bool:
        return self.ws.rollouts.status(deployment)[1].kind == "single"

    # -- recording ------------------------------------------------------------------------

    def _recorder(self, model: str, tick: Tick) -> _Record:
        def record(
            kind: str, reason: str, figures: Mapping[str, Any], version: str | None = None
        ) -> None:
            decision = Decision(
                model,
                self.ws.clock.now(),
                kind,
                reason,
                dict(figures),
                version,
                self.actor,
            )
            tick.decisions.append(self._store(decision))
            logger.info("%s: %s: %s", model, kind, reason)

        return record

    def _store(self, decision: Decision) -> Decision:
        stored = self.ws.metadata.add_decision(decision)
        target = f"model/{decision.model_name}"
        figures = {k: v for k, v in decision.figures.items() if k not in ("plan", "policy")}
        self.ws.audit.record(
            decision.actor, f"ct.{decision.kind}", target, decision.reason, figures
        )
        return stored


_Record = Callable[..., None]


def run_agent(
    ws: Workspace,
    models: list[str],
    *,
    every: float,
    stop: Callable[[], bool],
    wait: Callable[[float], None],
    on_tick: Callable[[Tick], None] = lambda _: None,
    actor: str = CONTROLLER,
) -> None:
    """Tick each of `models` every `every` seconds of `wait` until `stop` says so (what
    `prodml agent` runs); a model's failed pass is logged and the next one tried."""
    controller = Controller(ws, actor=actor)
    while not stop():
        for model in models:
            try:
                on_tick(controller.tick(model))
            except ProdmlError as exc:
                logger.error("continuous training of %s: %s", model, exc.message)
        wait(every)


def _base_recipe(champion: ModelVersionInfo) -> dict[str, Any] | None:
    """The recipe (path, config and snapshots) the champion's line began with: a retrained
    version records the one it widened."""
    path = champion.tags.get(RECIPE_TAG)
    if not path:
        return None
    config = json.loads(champion.tags.get(RECIPE_CONFIG_TAG, "null"))
    if path == RETRAINED:
        return {
            "recipe": config["recipe"],
            "config": config.get("config"),
            "snapshots": {n: snapshot_ids(champion)[n] for n in config["inputs"]},
        }
    return {"recipe": path, "config": config, "snapshots": snapshot_ids(champion)}


def _training_rows(champion: ModelVersionInfo) -> int:
    card = json.loads(champion.tags.get("prodml.card", "{}"))
    return int(card.get("data", {}).get("train", {}).get("rows", 0))


def _state_figures(state: State, evaluation: Evaluation) -> dict[str, Any]:
    return {
        "triggers": evaluation.triggers,
        "guards": evaluation.guards,
        "new_labels": state.new_labels,
        "training_rows": state.training_rows,
        "firing": list(state.firing),
        "last_trained": state.last_trained.isoformat() if state.last_trained else None,
        "retrains_in_period": state.retrains_in_period,
    }


def _gate_figures(gate: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("passed", "metric", "candidate", "comparisons", "reasons", "fairness_passed")
    return {k: gate[k] for k in keep if k in gate}


def _improvements(gate: Mapping[str, Any]) -> str:
    """A passed gate in words: its metric's improvement over each model it was held to."""
    return ", ".join(
        f"{c['improvement']:+.4f} {gate.get('metric', '')} over {c['role']} {c['against']}"
        for c in gate.get("comparisons", [])
    )


def _rows_of(registered: Any) -> dict[str, int]:
    outputs = registered.result.pipeline.outputs if registered.result else {}
    return {
        part: len(outputs[f"{part}_rows"])
        for part in ("train", "valid", "reserve")
        if f"{part}_rows" in outputs
    }


def _said(batch: Batch) -> str:
    if batch.skipped:
        return f"no production rows ({batch.skipped})"
    looped = (
        f"; {batch.feedback_loop:,} labelled only because of the model's decision, "
        + ("excluded" if batch.excluded else "kept")
        if batch.feedback_loop
        else ""
    )
    return f"{len(batch.rows):,} newly labelled production rows{looped}"


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
