"""Rollouts: deployments move between traffic policies (canary, A/B, shadow) by a person's
command or, once built, by the analysis of their arms."""

from prodml.rollout.commands import ANALYSIS, Rollouts

__all__ = ["ANALYSIS", "Rollouts"]
