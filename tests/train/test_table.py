"""Planning a table's training: the task from the label, the features from the contract,
the positive class, and clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError, TrainingError
from prodml.train.table import Column, TableConfig, plan, recipe


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "email": [f"u{i}@example.com" for i in range(n)],
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50, 10, n),
            "signed_up": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h"),
            "label_text": rng.choice(["Yes", "No"], n),
            "label_int": rng.integers(0, 2, n),
            "price": rng.gamma(2, 100, n),
            "grade": rng.choice(["a", "b", "c"], n),
        }
    )


COLUMNS = {"email": Column("string", pii="email"), "signed_up": Column("timestamp")}


@pytest.mark.parametrize(
    ("label", "task", "positive"),
    [("label_text", "classification", "Yes"), ("label_int", "classification", None),
     ("price", "regression", None)],
)  # fmt: skip
def test_the_label_decides_the_task_and_the_positive_class(label, task, positive):
    config = plan(_table(), COLUMNS, data="users", label=label)
    assert (config.task, config.positive_class) == (task, positive)


def test_keys_pii_id_like_and_timestamps_are_left_out_unless_included():
    config = plan(_table(), COLUMNS, data="users", label="label_int", keys=["id"])
    assert config.left_out["id"] == "a key"
    assert config.left_out["email"] == "PII: email"
    assert config.left_out["signed_up"] == "a timestamp"
    assert set(config.categorical) == {"city", "grade", "label_text"}
    included = plan(_table(), COLUMNS, data="users", label="label_int", include=["email"])
    assert "email" in included.categorical
    excluded = plan(_table(), COLUMNS, data="users", label="label_int", exclude=["city"])
    assert excluded.left_out["city"] == "--exclude"


def test_a_text_column_with_a_value_per_row_is_id_like():
    config = plan(_table(), {}, data="users", label="label_int")
    assert config.left_out["id"] == "id-like: a distinct value in most rows"


def test_what_cannot_be_trained_is_refused_with_what_to_do():
    frame = _table()
    with pytest.raises(ConfigError, match="'grade' has 3 classes; prodml trains binary"):
        plan(frame, {}, data="users", label="grade")
    with pytest.raises(TrainingError, match="'constant' has 1 distinct value"):
        plan(frame.assign(constant=1), {}, data="users", label="constant")
    with pytest.raises(ConfigError, match="--positive 'maybe' is not a value of 'label_text'"):
        plan(frame, {}, data="users", label="label_text", positive_class="maybe")
    with pytest.raises(ConfigError, match="--time 'age' holds integer values"):
        plan(frame, {}, data="users", label="label_int", time_column="age")
    with pytest.raises(ConfigError, match="--task regression needs a numeric label"):
        plan(frame, {}, data="users", label="label_text", task="regression")


def test_a_time_split_holds_out_the_last_share_and_the_recipe_maps_the_label():
    frame = _table()
    config = plan(frame, COLUMNS, data="users", label="label_text", time_column="signed_up",
                  valid_fraction=0.25)  # fmt: skip
    assert pd.Timestamp(config.valid_from) == frame["signed_up"].iloc[300]
    built = recipe({"users": frame}, None, config=TableConfig.from_dict(config.to_dict()).to_dict())
    assert (
        built.examples["label_text"].tolist() == (frame["label_text"] == "Yes").astype(int).tolist()
    )
    assert built.spec.split.startswith("by time: signed_up from 2024-01-13")


def test_a_date_without_a_zone_is_read_in_utc_and_must_fall_inside_the_data():
    frame = _table()
    config = plan(frame, COLUMNS, data="users", label="label_int", time_column="signed_up",
                  valid_from="2024-01-10")  # fmt: skip
    assert config.valid_from == "2024-01-10T00:00:00+00:00"
    with pytest.raises(ConfigError, match="leaves no rows on one side: 'signed_up' runs from"):
        plan(frame, COLUMNS, data="users", label="label_int", time_column="signed_up",
             valid_from="2030-01-01")  # fmt: skip


def test_a_baseline_flavor_competes_only_when_tuned():
    frame = _table()
    both = ["lightgbm", "logistic"]
    config = plan(frame, COLUMNS, data="users", label="label_int", candidates=both, tune=5)
    built = recipe({"users": frame}, None, config=config.to_dict())
    assert [c.name for c in built.spec.candidates] == ["lightgbm", "tuned_logistic"]
    assert [c.n_trials for c in built.spec.candidates] == [5, 5]
    with pytest.raises(ConfigError, match="needs --tune N to differ from it"):
        plan(frame, COLUMNS, data="users", label="label_int", candidates=["logistic"])
