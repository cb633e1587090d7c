"""Data quality per window: refusals by reason, missing values, numbers beyond the training
range and categories training never held, refused rows included."""

import numpy as np
import pandas as pd
import pytest

from prodml.monitor import Reference
from prodml.monitor.quality import data_quality
from prodml.monitor.traffic import REJECTED, traffic_frame


def _reference(rng) -> Reference:
    frame = pd.DataFrame(
        {"size": rng.uniform(0, 10, 2_000), "color": rng.choice(["red", "blue"], 2_000)}
    )
    return Reference.from_frame(frame, sample_rows=0)


def _answer(i: int, size: float | None, color: str | None) -> dict:
    return {
        "request_id": f"a{i}",
        "row": 0,
        "timestamp": "2026-03-02T10:00:00+00:00",
        "version": "1",
        "inputs": {"size": size, "color": color},
        "probability": 0.4,
        "label": 0,
    }


def _refusal(i: int, sent: dict, reasons: list[str]) -> dict:
    return {
        "request_id": f"r{i}",
        "row": 0,
        "timestamp": "2026-03-02T10:00:01+00:00",
        "version": "1",
        "sent": sent,
        "rejected": reasons,
    }


def test_the_log_reads_without_refusals_unless_asked_and_then_in_log_order():
    records = pd.DataFrame(
        [
            _answer(0, 1.0, "red"),
            _refusal(1, {"size": "big", "color": "red"}, ["size: not a number"]),
            _answer(2, 2.0, "blue"),
        ]
    )
    answered = traffic_frame(records)
    assert answered["request_id"].tolist() == ["a0", "a2"]
    assert REJECTED not in answered
    every = traffic_frame(records, rejected=True)
    assert every["request_id"].tolist() == ["a0", "r1", "a2"]
    assert every[REJECTED].isna().tolist() == [True, False, True]
    assert every[REJECTED].iloc[1] == "size: not a number"
    # Text where the answered rows hold numbers is read as a number, or as missing.
    assert pd.api.types.is_float_dtype(every["size"])
    assert np.isnan(every["size"].iloc[1])
    assert np.isnan(every["prediction"].iloc[1])


def test_refusals_by_reason_missing_values_and_values_training_never_saw(rng):
    reference = _reference(rng)
    records = [_answer(i, 5.0, "red") for i in range(80)]
    records += [_answer(100 + i, 12.0, "blue") for i in range(10)]  # past the range's top
    records += [_answer(200 + i, None, "blue") for i in range(5)]  # no value
    records += [_answer(300 + i, 3.0, "magenta") for i in range(2)]  # answered, never seen
    refused = {"size": "1", "color": "teal"}  # refused by a small vocabulary
    records += [_refusal(i, refused, ["color: unknown category"]) for i in range(3)]
    records += [_refusal(9, {"size": "x"}, ["size: not a number", "color: missing"])]
    quality = data_quality(reference, traffic_frame(pd.DataFrame(records), rejected=True))

    assert (quality.rows, quality.rejected) == (101, 4)
    assert quality.rejected_share == pytest.approx(4 / 101)
    assert quality.reasons == {
        "color: unknown category": 3,
        "size: not a number": 1,
        "color: missing": 1,
    }
    assert quality.missing == {"size": pytest.approx(5 / 97), "color": 0.0}
    # Of the 95 numbers present (answered 92, refused 3; "x" is none): 10 past the top.
    assert quality.out_of_range == {"size": pytest.approx(10 / 95)}
    # A category never held counts whether its row was answered or refused.
    assert quality.unseen_share == {"color": pytest.approx(5 / 100)}
    assert quality.unseen["color"] == [("teal", pytest.approx(0.03)), ("magenta", 0.02)]


def test_a_window_of_clean_answers_has_nothing_to_report(rng):
    reference = _reference(rng)
    rows = [_answer(i, float(v), c) for i, (v, c) in enumerate(zip([1, 2, 9], "rbr", strict=True))]
    records = pd.DataFrame(rows).assign(inputs=lambda f: f["inputs"].map(_colour))
    quality = data_quality(reference, traffic_frame(records, rejected=True))
    assert quality.rejected == 0
    assert quality.reasons == {}
    assert quality.out_of_range == {"size": 0.0}
    assert quality.unseen_share == {"color": 0.0}
    assert quality.unseen == {}


def _colour(inputs: dict) -> dict:
    return {**inputs, "color": {"r": "red", "b": "blue"}[inputs["color"]]}
