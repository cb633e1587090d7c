"""Continuous training: policies (when to retrain, what a retrained model must pass), the
controller that acts on them (`prodml ct tick`, `prodml agent`), and training rows from
production (the prediction log joined with the outcomes that came back)."""

from prodml.automate.controller import Controller, Tick, run_agent
from prodml.automate.policy import Evaluation, State, evaluate, policy_version

__all__ = ["Controller", "Evaluation", "State", "Tick", "evaluate", "policy_version", "run_agent"]
