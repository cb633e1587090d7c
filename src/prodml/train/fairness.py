"""The gate's fairness check: can this candidate be released to decide about people?

For each declared sensitive attribute (`monitoring.sensitive`) and each pair of them (their
intersection, e.g. ``sex&age_band``), on the validation rows: per group of at least
`min_group_rows`, the selection rate, true and false positive rates and calibration (mean
score less the observed positive rate), by Fairlearn's MetricFrame, each with a bootstrap
interval; per attribute the demographic-parity ratio (lowest selection rate over highest)
and the equalized-odds difference (largest gap in TPR or FPR).

A candidate is blocked when a disparity is both material (past `min_ratio`, the
four-fifths rule, or `max_odds_difference`) and significant (the gap between the two
groups that make it has an interval excluding zero, widened for the number of pairs of
groups compared; the EEOC reads the four-fifths rule with a significance test the same
way), or when it is worse than the champion's on the
same rows by more than `margin` with confidence (paired resamples). An approver may then
grant a recorded exception (`prodml models allow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

DECISION_THRESHOLD = 0.5  # a score at or above it is a positive decision, as served
RATIO = "demographic_parity_ratio"
ODDS = "equalized_odds_difference"


@dataclass(frozen=True)
class FairnessRules:
    """The thresholds the gate holds a candidate to (`governance.fairness` settings)."""

    min_ratio: float = 0.8
    max_odds_difference: float = 0.1
    min_group_rows: int = 100
    margin: float = 0.02
    intersections: bool = True
    resamples: int = 200
    level: float = 0.95
    seed: int = 0


def check_fairness(
    rows: pd.DataFrame,
    y_true: Any,
    scores: Any,
    *,
    sensitive: Sequence[str],
    rules: FairnessRules = FairnessRules(),
    champion: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    """The fairness report of a classifier's `scores` of `rows` (truth `y_true`, 0/1):
    ``{"passed", "reasons", "rules", "attributes": {name: figures}}``. `champion` is the
    champion's (name, scores) of the same rows. An attribute absent from `rows`, or with
    fewer than two groups large enough, is listed under "skipped" with why."""
    y = np.asarray(y_true, dtype=int)
    score = np.asarray(scores, dtype=float)
    decided = (score >= DECISION_THRESHOLD).astype(int)
    theirs = None
    if champion is not None:
        theirs = (np.asarray(champion[1], dtype=float) >= DECISION_THRESHOLD).astype(int)
    report: dict[str, Any] = {
        "passed": True,
        "reasons": [],
        "rules": asdict(rules),
        "champion": None if champion is None else champion[0],
        "attributes": {},
        "skipped": {},
    }
    present = [s for s in sensitive if s in rows.columns]
    for name in set(sensitive) - set(present):
        report["skipped"][name] = "not a column of the evaluation rows"
    attributes: list[tuple[str, ...]] = [(a,) for a in present]
    if rules.intersections:
        attributes += list(combinations(present, 2))
    for columns in attributes:
        name = "&".join(columns)
        groups = _groups(rows, columns)
        sizes = groups.value_counts()
        large = sorted(sizes[sizes >= rules.min_group_rows].index)
        if len(large) < 2:
            report["skipped"][name] = (
                f"fewer than two groups of {rules.min_group_rows} rows or more "
                f"({', '.join(f'{g}: {n}' for g, n in sizes.items())})"
            )
            continue
        keep = groups.isin(large).to_numpy()
        figures = _attribute(
            groups.to_numpy()[keep],
            y[keep],
            score[keep],
            decided[keep],
            None if theirs is None else theirs[keep],
            rules,
        )
        figures["too_small"] = {str(g): int(n) for g, n in sizes.items() if g not in large}
        report["attributes"][name] = figures
        for reason in _verdict(name, figures, rules, champion):
            report["passed"] = False
            report["reasons"].append(reason)
    return report


def _groups(rows: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Each row's group: its value of the attribute, or its values joined for an
    intersection ("F&30-50"); a missing value is a group of its own."""
    parts = [rows[c].astype("string").fillna("missing") for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "&" + part
    return joined.reset_index(drop=True)


def _calibration(y_true: Any, y_pred: Any, *, score: Any) -> float:
    return float(np.mean(score) - np.mean(y_true))


def _attribute(
    groups: np.ndarray,
    y: np.ndarray,
    score: np.ndarray,
    decided: np.ndarray,
    theirs: np.ndarray | None,
    rules: FairnessRules,
) -> dict[str, Any]:
    """One attribute's figures: Fairlearn's point values, and bootstrap intervals from
    Poisson resampling weights shared by the candidate and the champion (paired)."""
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "calibration": _calibration,
        },
        y_true=y,
        y_pred=decided,
        sensitive_features=groups,
        sample_params={"calibration": {"score": score}},
    )
    names, codes = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(rules.seed)
    weights = rng.poisson(1.0, size=(rules.resamples, y.size)).astype(float)
    rates = _rates(weights, codes, names.size, y, decided, score)
    tail = (1 - rules.level) / 2
    by_group: dict[str, Any] = {}
    for i, group in enumerate(names):
        point = frame.by_group.loc[group]
        by_group[str(group)] = {"rows": int((codes == i).sum())} | {
            metric: [float(point[metric]), *_ci(draws[:, i], tail)]
            for metric, draws in rates.items()
        }
    # The two groups furthest apart are picked after looking, among every pair: their gap's
    # interval is widened for that many comparisons (Bonferroni), else the more groups an
    # intersection has, the likelier chance alone looks significant.
    pairs = names.size * (names.size - 1) // 2
    selection = frame.by_group["selection_rate"].to_numpy()
    low, high = int(np.argmin(selection)), int(np.argmax(selection))
    pair_ratio = rates["selection_rate"][:, low] / rates["selection_rate"][:, high]
    ratio = {
        "value": float(demographic_parity_ratio(y, decided, sensitive_features=groups)),
        "interval": _ci(pair_ratio, tail / pairs),
        "between": [str(names[low]), str(names[high])],
    }
    gaps = {m: frame.by_group[m].to_numpy() for m in ("true_positive_rate", "false_positive_rate")}
    worst = max(gaps, key=lambda m: np.nanmax(gaps[m]) - np.nanmin(gaps[m]))
    lo, hi = int(np.nanargmin(gaps[worst])), int(np.nanargmax(gaps[worst]))
    odds = {
        "value": float(equalized_odds_difference(y, decided, sensitive_features=groups)),
        "interval": _ci(rates[worst][:, hi] - rates[worst][:, lo], tail / (2 * pairs)),
        "between": [str(names[lo]), str(names[hi])],
        "rate": worst,
    }
    figures: dict[str, Any] = {"groups": by_group, RATIO: ratio, ODDS: odds}
    if theirs is not None:
        champion = _rates(weights, codes, names.size, y, theirs, score)
        figures["champion"] = {
            RATIO: {
                "value": float(demographic_parity_ratio(y, theirs, sensitive_features=groups)),
                "difference": _ci(_ratio(rates) - _ratio(champion), tail),
            },
            ODDS: {
                "value": float(equalized_odds_difference(y, theirs, sensitive_features=groups)),
                "difference": _ci(_odds(rates) - _odds(champion), tail),
            },
        }
    return figures


def _rates(
    weights: np.ndarray, codes: np.ndarray, n: int, y: np.ndarray, d: np.ndarray, s: np.ndarray
) -> dict[str, np.ndarray]:
    """Per resample (rows of `weights`) and group: the four rates, weighted."""
    onehot = np.zeros((codes.size, n))
    onehot[np.arange(codes.size), codes] = 1.0
    total = weights @ onehot
    positive = weights @ (onehot * y[:, None])
    negative = total - positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "selection_rate": (weights @ (onehot * d[:, None])) / total,
            "true_positive_rate": (weights @ (onehot * (y * d)[:, None])) / positive,
            "false_positive_rate": (weights @ (onehot * ((1 - y) * d)[:, None])) / negative,
            "calibration": (weights @ (onehot * s[:, None]) - positive) / total,
        }


def _ratio(rates: dict[str, np.ndarray]) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmin(rates["selection_rate"], axis=1) / np.nanmax(
            rates["selection_rate"], axis=1
        )


def _odds(rates: dict[str, np.ndarray]) -> np.ndarray:
    return np.maximum(
        *(
            np.nanmax(rates[m], axis=1) - np.nanmin(rates[m], axis=1)
            for m in ("true_positive_rate", "false_positive_rate")
        )
    )


def _ci(draws: np.ndarray, tail: float) -> list[float]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return [float("nan"), float("nan")]
    low, high = np.quantile(finite, [tail, 1 - tail])
    return [float(low), float(high)]


def _verdict(
    name: str, figures: dict[str, Any], rules: FairnessRules, champion: tuple[str, Any] | None
) -> list[str]:
    """Why `figures` block the candidate, one sentence per breach (none: it may pass)."""
    reasons = []
    ratio, odds = figures[RATIO], figures[ODDS]
    low, high = ratio["between"]
    if ratio["value"] < rules.min_ratio and ratio["interval"][1] < 1.0:
        ratio["blocked"] = True
        reasons.append(
            f"{name}: group {low} is selected at {ratio['value']:.2f}× the rate of {high} "
            f"(demographic-parity ratio, interval [{ratio['interval'][0]:.2f}, "
            f"{ratio['interval'][1]:.2f}]), below the four-fifths rule's {rules.min_ratio}"
        )
    if odds["value"] > rules.max_odds_difference and odds["interval"][0] > 0.0:
        odds["blocked"] = True
        low, high = odds["between"]
        rate = odds["rate"].replace("_", " ")
        reasons.append(
            f"{name}: the {rate} of {high} exceeds {low}'s by {odds['value']:.3f} (equalized-"
            f"odds difference, gap interval [{odds['interval'][0]:.3f}, "
            f"{odds['interval'][1]:.3f}]), above {rules.max_odds_difference}"
        )
    against = figures.get("champion")
    if against is not None and champion is not None:
        if against[RATIO]["difference"][1] < -rules.margin:
            reasons.append(
                f"{name}: the demographic-parity ratio is worse than champion {champion[0]}'s "
                f"({ratio['value']:.2f} against {against[RATIO]['value']:.2f}; difference "
                f"interval {_pair(against[RATIO]['difference'])}, margin {rules.margin})"
            )
        if against[ODDS]["difference"][0] > rules.margin:
            reasons.append(
                f"{name}: the equalized-odds difference is worse than champion "
                f"{champion[0]}'s ({odds['value']:.3f} against {against[ODDS]['value']:.3f}; "
                f"difference interval {_pair(against[ODDS]['difference'])}, margin "
                f"{rules.margin})"
            )
    return reasons


def _pair(interval: Sequence[float]) -> str:
    return f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"
