"""Explanations over time: feature importance (mean |TreeSHAP| shares) at registration
and per window, and the shift between them that the explanation-drift alert watches; a
model that cannot explain is simply not judged on it."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from prodml.monitor import Reference
from prodml.monitor.alerts import evaluate_alerts
from prodml.monitor.explain import explainer, importance_shift
from prodml.monitor.notify import Notifier
from prodml.monitor.run import monitor_traffic
from prodml.predlog import PredictionLog
from prodml.settings import MonitoringSettings
from prodml.store import MetadataStore
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_importance_shares_name_the_feature_that_moves_the_scores(toy_lightgbm, rng):
    shares = explainer(toy_lightgbm)(toy_frame(rng, 2000))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.get) == "size"
    assert importance_shift(shares, shares) == 0.0
    assert importance_shift({"a": 1.0}, {"b": 1.0}) == 1.0


def test_a_model_that_cannot_explain_has_no_explainer(rng):
    logistic = fit_model("logistic", toy_frame(rng, 300), "y", TOY_SPEC)
    assert explainer(logistic) is None


def test_a_window_leaning_on_other_features_raises_explanation_drift(toy_lightgbm, rng, tmp_path):
    reference = Reference.build(toy_lightgbm, toy_frame(rng, 3000), ["color", "size", "noise"])
    assert max(reference.importance, key=reference.importance.get) == "size"
    same = toy_frame(rng, 1000)
    narrow = toy_frame(rng, 1000).assign(size=0.0)  # size no longer varies: color leads
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    with PredictionLog(tmp_path / "log") as log:
        for day, rows in enumerate((same, narrow)):
            scores = toy_lightgbm.predict_frame(rows)
            log.append(
                {
                    "request_id": f"d{day}-{i}",
                    "row": 0,
                    "timestamp": (DAY0 + timedelta(days=day, seconds=i * 80)).isoformat(),
                    "model": "toy",
                    "version": "1",
                    "inputs": {k: None if v != v else v for k, v in row.items() if k != "y"},
                    "probability": float(p),
                    "label": int(p >= 0.5),
                }
                for i, (row, p) in enumerate(zip(rows.to_dict("records"), scores, strict=True))
            )
        records = log.read()
    settings = MonitoringSettings()
    run = monitor_traffic(
        "toy",
        records,
        lambda _: reference,
        metadata,
        now=DAY0 + timedelta(days=3),
        settings=settings,
        explainer_of=lambda _: explainer(toy_lightgbm),
    )
    shifts = [w.importance["importance_shift"] for w in run.windows]
    assert shifts[0] < 0.1 < 0.2 < shifts[1]
    assert (
        max(
            (k for k in run.windows[1].importance if k != "importance_shift"),
            key=run.windows[1].importance.get,
        )
        == "color"
    )
    found = metadata.list_findings(monitor="explain", model_name="toy")
    assert {f.metric for f in found} == {"importance", "importance_shift"}
    fired = evaluate_alerts(
        "toy", settings.rules, metadata, Notifier(), now=DAY0 + timedelta(days=3)
    )
    assert any(e.alert.rule == "explanation-drift" for e in fired)
    metadata.close()
    assert not np.isnan(shifts).any()
