"""The checks a rollout's candidate must pass against the stable version, on the traffic
since the rollout began (see `analysis.py` for what is decided from them):

- errors: its callers answered by the stable because it raised, timed out or scored
  NaN (a shadow: requests it left unscored);
- inputs: rows its own schema refuses that the stable's accepts;
- scores: its score distribution against the stable's on the same period, unless it
  matches the candidate's own scores on its held-out rows at registration, or the stable
  is no yardstick: monitoring has found its performance fallen, or its outcomes so far
  show its scores off their rate while the candidate's sit nearer (a retrain after the
  world changed scores unlike the stale stable by design: then outcomes judge, see
  `DEFERS`);
- estimated: its CBPE-estimated ROC AUC against the stable's (classifiers), unless the
  stable's own outcomes have fallen below its estimate (its calibration no longer holds);
- realized: its realized ROC AUC (a regressor: mean absolute error) once labels arrive;
- latency: its requests slower than the stable's p99 by the set ratio and slack.

Each abstains below `min_rows`, and fires only when its sequential test (see
`sequential.py`) puts the candidate beyond the check's margin at α: a check looked at
every minute for a day fires falsely no more often than one looked at once. A canary
routes whole requests, so the tests count a request's rows as one cluster: 600 rows in
5 requests of the same hour are not 600 independent draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prodml.monitor.estimate import estimate
from prodml.monitor.labels import LABEL
from prodml.monitor.traffic import DECISION, PREDICTION
from prodml.rollout.sequential import Difference, auc_with_variance, difference, mean_difference
from prodml.serve.routed import INVALID
from prodml.settings import RolloutSettings

FAIL, PASS, ABSTAIN = "fail", "pass", "abstain"
# A figure of a check that abstained because only outcomes can judge the candidate: a
# canary's step then waits for the realized check to have judged (see analysis.py).
DEFERS = "defers_to_outcomes"
SCORE_BINS = 10
# How large a difference each test's mixture expects (τ of the mSPRT): rates are judged
# in points, AUC in hundredths.
_TAU_RATE, _TAU_AUC = 0.05, 0.05


@dataclass(frozen=True)
class Check:
    """One check's verdict (FAIL, PASS or ABSTAIN), a sentence saying why, and the
    figures it rests on."""

    name: str
    verdict: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Arms:
    """The traffic a check compares: the candidate's rows and the stable's since the
    rollout began (`traffic_frame` rows with labels joined), whether the candidate is a
    shadow, and each side's CBPE estimator (None: not a classifier, or none registered)."""

    candidate: pd.DataFrame
    stable: pd.DataFrame
    shadow: bool = False
    candidate_estimator: dict[str, Any] | None = None
    stable_estimator: dict[str, Any] | None = None
    # The candidate's scores of its held-out rows at registration (its reference's).
    candidate_validated: np.ndarray | None = None
    # Why monitoring holds the stable's own performance to have fallen ("": it does not).
    stable_degraded: str = ""

    @property
    def scored(self) -> pd.DataFrame:
        """The candidate's rows it scored itself (not answered for by the stable)."""
        rows = self.candidate
        return rows[rows["fallback"].isna()] if "fallback" in rows else rows


def run_checks(arms: Arms, settings: RolloutSettings) -> list[Check]:
    """Every check, in the order of the module docstring."""
    return [
        errors(arms, settings),
        inputs(arms, settings),
        scores(arms, settings),
        estimated(arms, settings),
        realized(arms, settings),
        latency(arms, settings),  # last: when several fail, a model's fault is named first
    ]


def errors(arms: Arms, settings: RolloutSettings) -> Check:
    if arms.shadow:  # a shadow's failures leave no row: its copies missing are the count
        requests = arms.stable["request_id"].nunique()
        scored = min(arms.candidate["request_id"].nunique(), requests)
        failed = np.r_[np.zeros(scored), np.ones(requests - scored)]
    else:
        kinds = _fallbacks(arms.candidate)
        failed = (kinds.notna() & kinds.ne(INVALID)).to_numpy(dtype=float)
    if failed.size < settings.min_rows:
        return _abstain("errors", failed.size, settings)
    test = mean_difference(
        failed,
        np.zeros(len(arms.stable)),
        margin=settings.max_error_rate,
        tau=_TAU_RATE,
        alpha=settings.alpha,
        candidate_groups=None if arms.shadow else _groups(arms.candidate),
    )
    reason = (
        f"{test.candidate:.1%} of the candidate's requests failed and were answered by the "
        f"stable version (at least {test.low:.1%}; at most {test.margin:.1%} is tolerated)"
    )
    return _judged("errors", test, reason)


def latency(arms: Arms, settings: RolloutSettings) -> Check:
    candidate, stable = _requests(arms.scored), _requests(arms.stable)
    if min(len(candidate), len(stable)) < settings.min_rows:
        return _abstain("latency", min(len(candidate), len(stable)), settings)
    p99_stable = float(np.quantile(stable, 0.99))
    limit = max(settings.latency_ratio * p99_stable, p99_stable + settings.latency_slack_ms)
    # The candidate's p99 is past the limit exactly when over 1 % of its requests are.
    test = mean_difference(
        candidate > limit, stable > limit, margin=0.01, tau=_TAU_RATE, alpha=settings.alpha
    )
    p99 = float(np.quantile(candidate, 0.99))
    reason = (
        f"the candidate's p99 latency is {p99:.1f} ms against the stable's {p99_stable:.1f} "
        f"ms: {test.candidate:.1%} of its requests took over {limit:.1f} ms"
    )
    figures = {"p99_ms": p99, "stable_p99_ms": p99_stable, "limit_ms": limit}
    return _judged("latency", test, reason, figures)


def scores(arms: Arms, settings: RolloutSettings) -> Check:
    mine = arms.scored.dropna(subset=[PREDICTION])
    theirs = arms.stable.dropna(subset=[PREDICTION])
    candidate = mine[PREDICTION].to_numpy(dtype=float)
    stable = theirs[PREDICTION].to_numpy(dtype=float)
    if min(candidate.size, stable.size) < settings.min_rows:
        return _abstain("scores", min(candidate.size, stable.size), settings)
    groups = _groups(mine)
    shift, at_least = _total_variation(candidate, stable, settings.alpha, groups, _groups(theirs))
    figures = {
        "total_variation": shift,
        "total_variation_low": at_least,
        "threshold": settings.max_score_shift,
        "n_candidate": int(candidate.size),
        "n_stable": int(stable.size),
        "candidate_mean": float(candidate.mean()),
        "stable_mean": float(stable.mean()),
    }
    reason = (
        f"the candidate's scores differ from the stable's by {shift:.2f} in total variation "
        f"(at least {at_least:.2f}; mean {candidate.mean():.3f} against {stable.mean():.3f}; "
        f"{settings.max_score_shift:.2f} is tolerated)"
    )
    if at_least <= settings.max_score_shift:
        return Check("scores", PASS, reason, figures)
    validated = arms.candidate_validated
    if validated is not None and validated.size >= settings.min_rows:
        # Scoring live traffic as it scored the newest rows it was validated on, the
        # candidate is working as gated: the stable is what the traffic moved away from.
        own, _ = _total_variation(candidate, validated, settings.alpha, groups)
        figures["validated_total_variation"] = own
        if own <= settings.max_score_shift:
            return Check(
                "scores",
                PASS,
                f"{reason}, but they match its own scores at registration (total variation "
                f"{own:.2f}): it scores live traffic as it was validated to",
                figures,
            )
    stale = arms.stable_degraded or _outcomes_disown(theirs, float(candidate.mean()), settings)
    if stale:
        return Check(
            "scores",
            ABSTAIN,
            f"{reason}, but the stable is no yardstick: {stale}; outcomes judge the "
            "candidate (the realized check)",
            {**figures, DEFERS: True},
        )
    return Check("scores", FAIL, reason, figures)


def _outcomes_disown(stable: pd.DataFrame, candidate_mean: float, settings: RolloutSettings) -> str:
    """Why the candidate's scores may have moved away from the stable's to follow the world
    (a reason), or "": the stable's outcomes so far put its mean score off their own mean
    with confidence, and the candidate's mean score is nearer theirs. A retrain after delays
    fell scores lower than the stale stable by design; whether it ranks well, only outcomes
    can say."""
    labelled = stable.dropna(subset=[LABEL]) if LABEL in stable else stable[:0]
    if len(labelled) < settings.min_rows:
        return ""
    groups = _groups(labelled)
    bias = mean_difference(
        labelled[PREDICTION],
        labelled[LABEL],
        margin=0.0,
        tau=_TAU_RATE,
        alpha=settings.alpha,
        candidate_groups=groups,
        stable_groups=groups,
    )
    scored, observed = bias.candidate, bias.stable
    if bias.low <= 0 <= bias.high or abs(candidate_mean - observed) >= abs(scored - observed):
        return ""
    return (
        f"its scores average {scored:.3f} where the outcomes of {len(labelled):,} of its rows "
        f"average {observed:.3f}, and the candidate's ({candidate_mean:.3f}) lie nearer them"
    )


def _total_variation(
    candidate: np.ndarray,
    stable: np.ndarray,
    alpha: float,
    candidate_groups: np.ndarray | None = None,
    stable_groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """The total variation distance between two arms' scores, and a lower bound on it
    valid at every look at once. Bins hold a tenth of the stable's scores each; a bin's
    share is a rate the two should share, and each bin's confidence sequence (at `alpha`
    split over the bins, each arm's rows in their requests) bounds how far apart the
    shares are at least."""
    edges = np.unique(np.quantile(stable, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    c_bins, s_bins = np.searchsorted(edges, candidate), np.searchsorted(edges, stable)
    alpha = alpha / (edges.size + 1)
    tests = [
        mean_difference(
            c_bins == b,
            s_bins == b,
            margin=0.0,
            tau=_TAU_RATE,
            alpha=alpha,
            candidate_groups=candidate_groups,
            stable_groups=stable_groups,
        )
        for b in range(edges.size + 1)
    ]
    shift = 0.5 * sum(abs(t.difference) for t in tests)
    at_least = 0.5 * sum(max(0.0, t.low, -t.high) for t in tests)
    return shift, at_least


def inputs(arms: Arms, settings: RolloutSettings) -> Check:
    refused = _fallbacks(arms.candidate).eq(INVALID).to_numpy(dtype=float)
    if refused.size < settings.min_rows:
        return _abstain("inputs", refused.size, settings)
    test = mean_difference(
        refused,
        np.zeros(len(arms.stable)),  # the stable's schema accepted every routed row
        margin=settings.max_invalid_rate,
        tau=_TAU_RATE,
        alpha=settings.alpha,
        candidate_groups=_groups(arms.candidate),
    )
    reason = (
        f"the candidate's schema refuses {test.candidate:.1%} of the rows the stable "
        f"version accepts ({settings.max_invalid_rate:.1%} is tolerated)"
    )
    return _judged("inputs", test, reason)


def estimated(arms: Arms, settings: RolloutSettings) -> Check:
    if arms.candidate_estimator is None or arms.stable_estimator is None:
        return Check("estimated", ABSTAIN, "no CBPE estimator for both versions (classifiers)")
    candidate, stable = arms.scored, arms.stable
    if min(len(candidate), len(stable)) < settings.min_rows:
        return _abstain("estimated", min(len(candidate), len(stable)), settings)
    mine = estimate(arms.candidate_estimator, candidate[PREDICTION], candidate[DECISION])
    theirs = estimate(arms.stable_estimator, stable[PREDICTION], stable[DECISION])
    stale = _estimate_contradicted(stable, theirs, settings)
    if stale:
        return Check("estimated", ABSTAIN, stale, {DEFERS: True})
    gap = theirs["roc_auc.low"] - mine["roc_auc.high"]  # ranges apart by this much
    figures = {
        "candidate": mine["roc_auc"],
        "candidate_low": mine["roc_auc.low"],
        "candidate_high": mine["roc_auc.high"],
        "stable": theirs["roc_auc"],
        "stable_low": theirs["roc_auc.low"],
        "stable_high": theirs["roc_auc.high"],
        "margin": settings.max_estimated_drop,
    }
    reason = (
        f"the candidate's estimated ROC AUC is {mine['roc_auc']:.3f} "
        f"({mine['roc_auc.low']:.3f}-{mine['roc_auc.high']:.3f}) against the stable's "
        f"{theirs['roc_auc']:.3f} ({theirs['roc_auc.low']:.3f}-{theirs['roc_auc.high']:.3f})"
    )
    verdict = FAIL if gap > settings.max_estimated_drop else PASS
    return Check("estimated", verdict, reason, figures)


def _estimate_contradicted(
    stable: pd.DataFrame, estimated: dict[str, float], settings: RolloutSettings
) -> str:
    """Why the stable's estimate cannot be compared with (a reason), or "" when it can.
    An estimate trusts the version's calibration; after the concept changed (when a
    retrained candidate is most often tried) the stable's outcomes fall below its own
    estimated range, and it would be favoured for a confidence it lost. Outcomes judge
    instead (the realized check)."""
    labelled = stable.dropna(subset=[LABEL]) if LABEL in stable else stable[:0]
    if len(labelled) < settings.min_rows:
        return ""
    realized, _ = auc_with_variance(labelled[LABEL], labelled[PREDICTION])
    if math.isnan(realized) or realized >= estimated["roc_auc.low"]:
        return ""
    return (
        f"the stable's outcomes contradict its estimate (realized ROC AUC {realized:.3f}, "
        f"estimated {estimated['roc_auc.low']:.3f}-{estimated['roc_auc.high']:.3f} on "
        f"{len(labelled):,} labelled rows): its calibration no longer holds, so the "
        "realized check judges the candidate"
    )


def realized(arms: Arms, settings: RolloutSettings) -> Check:
    candidate = arms.scored.dropna(subset=[LABEL]) if LABEL in arms.scored else arms.scored[:0]
    stable = arms.stable.dropna(subset=[LABEL]) if LABEL in arms.stable else arms.stable[:0]
    if min(len(candidate), len(stable)) < settings.min_rows:
        return _abstain("realized", min(len(candidate), len(stable)), settings, "labelled ")
    if DECISION in candidate:  # a classifier: the drop in ROC AUC
        mine, v_mine = auc_with_variance(
            candidate[LABEL], candidate[PREDICTION], _groups(candidate)
        )
        theirs, v_theirs = auc_with_variance(stable[LABEL], stable[PREDICTION], _groups(stable))
        if math.isnan(mine) or math.isnan(theirs):
            return Check("realized", ABSTAIN, "the labels so far hold only one class")
        test = difference(
            theirs,  # "larger is worse": the stable's AUC over the candidate's
            mine,
            v_mine + v_theirs,
            margin=settings.max_realized_drop,
            tau=_TAU_AUC,
            alpha=settings.alpha,
            n_candidate=len(candidate),
            n_stable=len(stable),
        )
        reason = (
            f"the candidate's realized ROC AUC is {mine:.3f} against the stable's {theirs:.3f} "
            f"on {len(candidate):,} and {len(stable):,} labelled rows in "
            f"{_count(candidate)} and {_count(stable)} requests (a drop of at least "
            f"{test.low:.3f}; {settings.max_realized_drop:.3f} is tolerated)"
        )
        figures = {
            "metric": "roc_auc",
            "candidate_auc": mine,
            "stable_auc": theirs,
            "candidate_requests": _count(candidate),
            "stable_requests": _count(stable),
        }
        return _judged("realized", test, reason, figures)
    error_c = (candidate[LABEL] - candidate[PREDICTION]).abs().to_numpy(dtype=float)
    error_s = (stable[LABEL] - stable[PREDICTION]).abs().to_numpy(dtype=float)
    scale = float(error_s.mean()) or 1.0
    test = mean_difference(
        error_c / scale,
        error_s / scale,
        margin=settings.max_realized_drop,
        tau=_TAU_RATE,
        alpha=settings.alpha,
        candidate_groups=_groups(candidate),
        stable_groups=_groups(stable),
    )
    reason = (
        f"the candidate's mean absolute error is {error_c.mean():.4g} against the stable's "
        f"{error_s.mean():.4g} ({settings.max_realized_drop:.1%} more is tolerated)"
    )
    return _judged("realized", test, reason, {"metric": "mae"})


def _fallbacks(rows: pd.DataFrame) -> pd.Series:
    """Why each row's candidate did not answer (missing: it did)."""
    if "fallback" in rows:
        return rows["fallback"]
    return pd.Series(None, index=rows.index, dtype=object)


def _groups(rows: pd.DataFrame) -> np.ndarray | None:
    """Each row's request (None when the rows do not say: each row stands alone)."""
    return rows["request_id"].to_numpy() if "request_id" in rows else None


def _count(rows: pd.DataFrame) -> int:
    """How many requests `rows` came in."""
    return int(rows["request_id"].nunique()) if "request_id" in rows else len(rows)


def _requests(rows: pd.DataFrame) -> np.ndarray:
    """Each request's latency once (its rows share it), in milliseconds."""
    if "latency_ms" not in rows or rows.empty:
        return np.array([])
    return rows.drop_duplicates("request_id")["latency_ms"].dropna().to_numpy(dtype=float)


def _judged(name: str, test: Difference, reason: str, extra: dict[str, Any] | None = None) -> Check:
    return Check(name, FAIL if test.worse else PASS, reason, {**test.figures(), **(extra or {})})


def _abstain(name: str, rows: int, settings: RolloutSettings, kind: str = "") -> Check:
    return Check(
        name,
        ABSTAIN,
        f"{rows:,} {kind}rows so far; it judges from {settings.min_rows:,} (rollouts.min_rows)",
        {"rows": rows},
    )
