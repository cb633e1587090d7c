"""The gate's fairness check: a disparity blocks only when it is material (past the
four-fifths rule or the equalized-odds limit) and significant, or worse than the
champion's; small groups are listed, not judged; every figure has its interval."""

import numpy as np
import pandas as pd
import pytest

from prodml.train.fairness import FairnessRules, check_fairness


def _scores(n, *, penalty=0.0, seed=0):
    """Scores that track the truth, lowered by `penalty` for group F."""
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.choice(["<40", "40+"], n)})
    y = rng.binomial(1, 0.5, n)
    score = np.clip(0.5 * y + 0.25 + rng.normal(0, 0.2, n) - penalty * (rows.sex == "F"), 0, 1)
    return rows, y, score


def test_a_model_fair_to_every_group_and_intersection_passes_with_intervals():
    rows, y, score = _scores(4000)
    report = check_fairness(rows, y, score, sensitive=["sex", "age"])
    assert report["passed"]
    assert report["reasons"] == []
    assert set(report["attributes"]) == {"sex", "age", "sex&age"}
    female = report["attributes"]["sex"]["groups"]["F"]
    for metric in ("selection_rate", "true_positive_rate", "false_positive_rate", "calibration"):
        value, low, high = female[metric]
        assert low <= value <= high
    ratio = report["attributes"]["sex"]["demographic_parity_ratio"]
    assert ratio["value"] > 0.9
    assert ratio["interval"][0] < ratio["value"] < ratio["interval"][1]


def test_a_material_significant_disparity_blocks_and_names_the_groups():
    rows, y, score = _scores(4000, penalty=0.3)
    report = check_fairness(rows, y, score, sensitive=["sex"])
    assert not report["passed"]
    ratio = report["attributes"]["sex"]["demographic_parity_ratio"]
    assert ratio["value"] < 0.8
    assert ratio["blocked"]
    assert ratio["between"] == ["F", "M"]
    assert any("group F is selected at" in r and "four-fifths" in r for r in report["reasons"])
    assert any("equalized-odds difference" in r for r in report["reasons"])


def test_a_breach_within_chance_does_not_block():
    """Past the limit on the point estimate, but the groups are too small to tell: the
    gap's interval includes parity, so it is reported, not blocked."""
    rows, y, score = _scores(240, penalty=0.06, seed=3)
    rules = FairnessRules(min_group_rows=50, max_odds_difference=0.01, intersections=False)
    report = check_fairness(rows, y, score, sensitive=["sex"], rules=rules)
    odds = report["attributes"]["sex"]["equalized_odds_difference"]
    assert odds["value"] > rules.max_odds_difference
    assert odds["interval"][0] <= 0.0
    assert not any("equalized-odds" in r for r in report["reasons"])


def test_worse_than_the_champion_blocks_even_within_the_rules():
    rows, y, fair = _scores(20_000)
    _, _, slightly = _scores(20_000, penalty=0.08)
    report = check_fairness(
        rows, y, slightly, sensitive=["sex"], champion=("loans/1", fair), rules=FairnessRules()
    )
    ratio = report["attributes"]["sex"]["demographic_parity_ratio"]
    assert ratio["value"] >= 0.8  # within the four-fifths rule ...
    assert not report["passed"]  # ... but worse than the champion beyond the margin
    assert any("worse than champion loans/1" in r for r in report["reasons"])


def test_small_groups_and_absent_attributes_are_listed_not_judged():
    rows, y, score = _scores(1000)
    rows.loc[:20, "sex"] = "X"
    report = check_fairness(rows, y, score, sensitive=["sex", "race"], rules=FairnessRules())
    assert report["attributes"]["sex"]["too_small"] == {"X": 21}
    assert "X" not in report["attributes"]["sex"]["groups"]
    assert report["skipped"]["race"] == "not a column of the evaluation rows"


@pytest.mark.parametrize("size", [50, 150])
def test_an_attribute_with_fewer_than_two_large_groups_is_skipped_with_its_sizes(size):
    rows, y, score = _scores(size + 20)
    rows["sex"] = ["F"] * size + ["M"] * 20
    report = check_fairness(rows, y, score, sensitive=["sex"], rules=FairnessRules())
    assert "sex" not in report["attributes"]
    assert f"F: {size}" in report["skipped"]["sex"]
    assert "M: 20" in report["skipped"]["sex"]
