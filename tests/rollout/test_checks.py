"""Each rollout check: silent below its minimum sample, passing a candidate like the
stable, and failing the fault it is there for, with a reason that names the figures."""

import numpy as np
import pandas as pd
import pytest

from prodml.monitor.estimate import calibrate
from prodml.monitor.labels import LABEL
from prodml.rollout.checks import ABSTAIN, DEFERS, FAIL, PASS, Arms, realized, run_checks
from prodml.settings import RolloutSettings
from tests._data import requests_by_hour

SETTINGS = RolloutSettings(min_rows=200)
N = 2000


def _rows(rng, n, *, arm, shift=0.0, latency=1.0, fallback=None, labels=True, noise=1.0):
    """Rows of one arm: scores of a model whose signal is `noise`-blurred."""
    truth = rng.random(n) < 0.3
    logit = 1.5 * (truth - 0.3) + rng.normal(scale=noise, size=n) - 1 + shift
    score = 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "request_id": [f"{arm}-{i}" for i in range(n)],
            "arm": arm,
            "prediction": score,
            "predicted_label": (score >= 0.5).astype(float),
            "latency_ms": rng.gamma(4, latency / 4, n),
            "fallback": pd.Series([fallback] * n, dtype=object),
        }
    )
    if labels:
        frame[LABEL] = truth.astype(float)
    return frame


def _verdicts(arms):
    return {c.name: c.verdict for c in run_checks(arms, SETTINGS)}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_a_candidate_like_the_stable_passes_every_check(rng):
    verdicts = _verdicts(Arms(_rows(rng, N, arm="candidate"), _rows(rng, N, arm="stable")))
    assert verdicts == {
        "errors": PASS,
        "latency": PASS,
        "scores": PASS,
        "inputs": PASS,
        "estimated": ABSTAIN,  # no estimators given
        "realized": PASS,
    }


def test_every_check_abstains_on_too_few_rows(rng):
    checks = run_checks(
        Arms(_rows(rng, 50, arm="candidate"), _rows(rng, N, arm="stable")), SETTINGS
    )
    assert {c.verdict for c in checks} == {ABSTAIN}
    assert "50 rows so far; it judges from 200" in checks[0].reason


def test_failures_answered_by_the_stable_fail_the_errors_check(rng):
    candidate = _rows(rng, N, arm="candidate")
    candidate.loc[rng.random(N) < 0.1, "fallback"] = "raised"  # one request in ten
    check = run_checks(Arms(candidate, _rows(rng, N, arm="stable")), SETTINGS)[0]
    assert check.verdict == FAIL
    assert "failed and were answered by the stable version" in check.reason
    assert check.figures["candidate"] == pytest.approx(0.1, abs=0.02)


def test_a_ten_times_slower_candidate_fails_the_latency_check(rng):
    verdicts = _verdicts(
        Arms(_rows(rng, N, arm="candidate", latency=10.0), _rows(rng, N, arm="stable"))
    )
    assert verdicts["latency"] == FAIL


def test_a_constant_score_fails_the_scores_check(rng):
    candidate = _rows(rng, N, arm="candidate").assign(prediction=0.31)
    check = {c.name: c for c in run_checks(Arms(candidate, _rows(rng, N, arm="stable")), SETTINGS)}
    assert check["scores"].verdict == FAIL
    assert check["scores"].figures["total_variation"] > 0.5


def test_a_small_honest_shift_in_scores_is_tolerated(rng):
    candidate = _rows(rng, N, arm="candidate", shift=0.1)
    assert _verdicts(Arms(candidate, _rows(rng, N, arm="stable")))["scores"] == PASS


def test_a_shift_the_candidate_was_validated_with_passes_and_one_it_was_not_fails(rng):
    # A retrain after the world changed: its scores sit well above the stale stable's.
    retrained = _rows(rng, N, arm="candidate", shift=1.5)
    stable = _rows(rng, N, arm="stable")
    assert _verdicts(Arms(retrained, stable))["scores"] == FAIL
    as_validated = np.sort(_rows(rng, 3000, arm="holdout", shift=1.5)["prediction"].to_numpy())
    check = {
        c.name: c
        for c in run_checks(Arms(retrained, stable, candidate_validated=as_validated), SETTINGS)
    }["scores"]
    assert check.verdict == PASS
    assert "match its own scores at registration" in check.reason
    # Served unlike it was validated (a feature lost at serving): the shift is the fault.
    unlike = np.sort(_rows(rng, 3000, arm="holdout")["prediction"].to_numpy())
    judged = Arms(retrained, stable, candidate_validated=unlike)
    assert _verdicts(judged)["scores"] == FAIL


def test_against_a_stable_monitoring_found_fallen_the_scores_check_defers_to_outcomes(rng):
    retrained, stable = _rows(rng, N, arm="candidate", shift=1.5), _rows(rng, N, arm="stable")
    why = "alert performance-drop firing on it since 2013-07-08"
    check = {c.name: c for c in run_checks(Arms(retrained, stable, stable_degraded=why), SETTINGS)}
    assert check["scores"].verdict == ABSTAIN
    assert why in check["scores"].reason
    assert check["scores"].figures[DEFERS] is True


def test_against_a_stable_its_outcomes_disown_a_candidate_nearer_them_is_left_to_outcomes(rng):
    """September's retrain: the stale stable scores far above the delays that happen, the
    retrain scores near them; the two differ, and the stable is the one that is off."""
    stable = _rows(rng, N, arm="stable", shift=1.5)  # mean score about 0.6, outcomes 0.3
    retrained = _rows(rng, N, arm="candidate")  # about 0.3, as the outcomes
    check = {c.name: c for c in run_checks(Arms(retrained, stable), SETTINGS)}["scores"]
    assert check.verdict == ABSTAIN
    assert check.figures[DEFERS] is True
    assert "outcomes of 2,000 of its rows average 0.3" in check.reason
    # A candidate moved further from the outcomes, or a stable with none in yet: a fault.
    away = _rows(rng, N, arm="candidate", shift=4.0)
    assert _verdicts(Arms(away, stable))["scores"] == FAIL
    assert _verdicts(Arms(retrained, stable.drop(columns=[LABEL])))["scores"] == FAIL


def test_rows_refused_by_the_candidates_schema_fail_the_inputs_check(rng):
    candidate = _rows(rng, N, arm="candidate", fallback="invalid")
    verdicts = _verdicts(Arms(candidate, _rows(rng, N, arm="stable")))
    assert verdicts["inputs"] == FAIL
    assert verdicts["errors"] == PASS  # a refusal is the inputs check's, not a failure


def test_a_subtly_worse_candidate_fails_the_realized_check_once_labels_are_in(rng):
    worse = _rows(rng, 6000, arm="candidate", noise=1.6)  # ~0.05 lower AUC
    stable = _rows(rng, 6000, arm="stable")
    verdicts = _verdicts(Arms(worse, stable))
    assert verdicts["realized"] == FAIL
    assert verdicts["errors"] == verdicts["latency"] == PASS
    unlabelled = _verdicts(Arms(worse.drop(columns=[LABEL]), stable.drop(columns=[LABEL])))
    assert unlabelled["realized"] == ABSTAIN


def test_the_estimated_check_fails_a_candidate_whose_scores_carry_no_signal(rng):
    reference = _rows(rng, 5000, arm="stable")
    estimator = calibrate(reference["prediction"], reference[LABEL])
    # A candidate that lost its signal: scores near the base rate, unrelated to the truth.
    flat = _rows(rng, N, arm="candidate").assign(prediction=rng.uniform(0.25, 0.35, N))
    arms = Arms(
        flat, _rows(rng, N, arm="stable"), candidate_estimator=estimator, stable_estimator=estimator
    )
    check = {c.name: c for c in run_checks(arms, SETTINGS)}["estimated"]
    assert check.verdict == FAIL
    assert "estimated ROC AUC" in check.reason


def test_a_shadows_missing_copies_count_as_its_failures(rng):
    stable = _rows(rng, N, arm="stable")
    shadow = _rows(rng, N // 2, arm="candidate")  # half the copies never scored
    assert _verdicts(Arms(shadow, stable, shadow=True))["errors"] == FAIL


def test_the_realized_check_weighs_a_few_requests_as_few_not_as_their_rows():
    """The replay's November: the same model's 600 rows in 5 requests from a few hours
    look worse than the stable's thousands; as rows they would roll it back."""
    by_request = by_row = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        candidate, stable = requests_by_hour(rng, 5, 120, "c"), requests_by_hour(rng, 200, 120, "s")
        check = realized(Arms(candidate, stable), SETTINGS)
        by_request += check.verdict == FAIL
        alone = {"request_id": [f"row-{i}" for i in range(len(candidate))]}
        by_row += realized(Arms(candidate.assign(**alone), stable), SETTINGS).verdict == FAIL
    assert "600 and 24,000 labelled rows in 5 and 200 requests" in check.reason
    assert by_request <= 3  # about α = 5 % of 40
    assert by_row >= 6
