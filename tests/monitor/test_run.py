"""`monitor_traffic`: complete windows of the prediction log judged once, against the
reference of the version that answered them."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from prodml.monitor import Reference
from prodml.monitor.run import monitor_traffic
from prodml.serve.predlog import PredictionLog
from prodml.store import MetadataStore

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def _rows(rng, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": rng.normal(shift, 1.0, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "prediction": rng.uniform(0, 1, n),
        }
    )


def _log_day(log: PredictionLog, rng, day: int, n: int, shift: float = 0.0) -> None:
    rows = _rows(rng, n, shift)
    times = [DAY0 + timedelta(days=day, seconds=int(s)) for s in np.linspace(0, 86_000, n)]
    log.append(
        {
            "request_id": f"d{day}-{i}",
            "timestamp": t.isoformat(),
            "channel": "http",
            "model": "toy",
            "version": "1",
            "inputs": {"size": r["size"], "color": r["color"]},
            "probability": r["prediction"],
        }
        for i, (t, r) in enumerate(zip(times, rows.to_dict("records"), strict=True))
    )


def test_each_complete_window_is_judged_once_and_recorded(rng, tmp_path):
    reference = Reference.from_frame(_rows(rng, 5_000))
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    with PredictionLog(tmp_path / "log") as log:
        _log_day(log, rng, 0, 2_000)
        _log_day(log, rng, 1, 2_000)
        _log_day(log, rng, 2, 2_000, shift=1.0)  # the day the inputs moved
        _log_day(log, rng, 3, 500)  # today, still filling
        records = log.read()

    def judge(now: datetime) -> list:
        return monitor_traffic("toy", records, lambda v: reference, metadata, now=now, freq="D")

    judged = judge(DAY0 + timedelta(days=3, hours=12))
    assert [(w.start.day, w.rows) for w in judged] == [(2, 2_000), (3, 2_000), (4, 2_000)]
    assert [[d.feature for d in w.drift if d.drifted] for w in judged] == [[], [], ["size"]]
    drifted = metadata.list_findings(monitor="drift", model_name="toy")
    assert len(drifted) == 3 * 3 * 2  # windows × features × (statistic, drifted)
    assert judge(DAY0 + timedelta(days=3, hours=13)) == []  # nothing new is complete
    later = judge(DAY0 + timedelta(days=4, hours=1))  # today's window has closed
    assert [(w.start.day, w.rows) for w in later] == [(5, 500)]
