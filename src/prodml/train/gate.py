"""The promotion gate: a candidate becomes `challenger` only if it beats every baseline and
is not worse than the champion by more than a margin, both judged with paired bootstrap
intervals on the same evaluation rows. The verdict is kept whichever way it goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from numpy.typing import ArrayLike

from prodml.train.bootstrap import paired_difference_interval
from prodml.train.evaluate import metric


@dataclass
class GateReport:
    """What the gate decided, on which figures, and when."""

    passed: bool
    metric: str
    margin: float
    candidate: str
    decided_at: str
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(
    y_true: ArrayLike,
    candidate: tuple[str, ArrayLike],
    *,
    baselines: Mapping[str, ArrayLike],
    champion: tuple[str, ArrayLike] | None,
    metric_name: str = "roc_auc",
    margin: float = 0.01,
    now: datetime,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> GateReport:
    """Judge `candidate` (name, scores) against `baselines` and the `champion` on `y_true`.

    Against each baseline the candidate must be better with confidence: the interval of the
    improvement lies above zero. Against the champion it must be non-inferior: the interval
    of the improvement lies above -`margin` (a negative margin asks for a gain: a retrain
    must beat the model it would replace).
    """
    fn, higher_is_better = metric(metric_name)
    sign = 1.0 if higher_is_better else -1.0
    name, scores = candidate
    report = GateReport(True, metric_name, margin, name, now.isoformat())

    def compare(role: str, other: str, other_scores: ArrayLike, floor: float) -> None:
        diff, low, high = paired_difference_interval(
            fn, y_true, scores, other_scores, resamples=resamples, level=level, seed=seed
        )
        # Improvement is measured so that positive is better, whatever the metric's sense.
        better, worst, best = (
            sign * diff,
            min(sign * low, sign * high),
            max(sign * low, sign * high),
        )
        ok = worst > floor
        report.comparisons.append(
            {
                "against": other,
                "role": role,
                "improvement": better,
                "low": worst,
                "high": best,
                "required_above": floor,
                "passed": ok,
            }
        )
        if not ok:
            report.passed = False
            if role == "baseline" or margin == 0:
                need = "better than"
            elif margin < 0:
                need = f"better by more than {-margin} than"
            else:
                need = f"within a margin of {margin} of"
            report.reasons.append(
                f"{name} is not {need} {role} {other} on {metric_name}: improvement {better:+.4f}, "
                f"{level:.0%} interval [{worst:+.4f}, {best:+.4f}]"
            )

    for other, other_scores in baselines.items():
        compare("baseline", other, other_scores, 0.0)
    if champion is not None:
        compare("champion", champion[0], champion[1], -margin)
    return report
