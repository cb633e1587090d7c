"""A model's world for continuous-training tests: generated rows whose concept changes,
ingested as a real snapshot, trained through a recorded recipe, then served behind a
deployment whose callers' outcomes come back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from prodml.data.contract import ColumnContract, Contract
from prodml.data.sources.memory import MemorySource
from prodml.serve import create_app
from prodml.train.tabular import Recipe
from prodml.workflow import Registered, train_and_register
from prodml.workspace import Workspace
from tests._data import toy_train_spec

MODEL, DEPLOYMENT = "toy", "toy-api"
START = datetime(2024, 1, 1, tzinfo=UTC)
FIELDS = ("color", "size", "noise")
RECIPE = f"{__name__}:recipe"
# Retrain after 500 newly labelled rows; no monitoring pass unless a test wants its alerts.
POLICY = {
    "monitor": False,
    "policy": {
        "triggers": {"new_labels": 500, "new_labels_share": None, "alerts": []},
        "guards": {"min_new_labels": 500, "cooldown_days": 7},
        "holdout_days": 20,
    },
}


def rows(n: int, start: datetime, *, shifted: bool = False, seed: int = 0) -> pd.DataFrame:
    """`n` hourly rows from `start`; `shifted`: the label follows `noise`, not `size`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    driver = frame["noise"] if shifted else frame["size"]
    logit = 3.0 * (driver.abs() > 1) + (frame["color"] == "red") - 1.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["at"] = pd.Timestamp(start) + pd.to_timedelta(np.arange(n), unit="h")
    return frame


CONTRACT = Contract(
    name="toy",
    columns={
        "color": ColumnContract(type="string"),
        "size": ColumnContract(type="float"),
        "noise": ColumnContract(type="float"),
        "y": ColumnContract(type="integer", nullable=False),
        "at": ColumnContract(type="timestamp", nullable=False),
    },
    event_timestamp="at",
)


def recipe(snapshots: dict[str, pd.DataFrame], workdir: Path) -> Recipe:
    """The first two thirds of the time train, the last third validates."""
    examples = snapshots["toy"].copy()
    examples["at"] = pd.to_datetime(examples["at"], utc=True)
    first, last = examples["at"].min(), examples["at"].max()
    valid_from = (first + (last - first) * 2 / 3).to_pydatetime()
    return Recipe(examples, toy_train_spec(valid_from=valid_from, min_reserve_rows=200))


def champion(ws: Workspace, start: datetime = START) -> Registered:
    """Version 1 of "toy", trained on 90 days from `start` through its recorded recipe,
    made champion, and served alone by deployment "toy-api"."""
    snapshot = ws.ingest(MemorySource(rows(24 * 90, start), name="toy"), CONTRACT).snapshot
    frame = ws.read_snapshot(snapshot.id)
    registered = train_and_register(
        ws, recipe({"toy": frame}, ws.state_dir), inputs={"toy": snapshot}, recorded_as=RECIPE
    )
    assert "champion" in registered.version.aliases
    ws.rollouts.create(DEPLOYMENT, f"{MODEL}@champion", actor="ana")
    return registered


def serve(ws: Workspace, traffic: pd.DataFrame, *, label_delay: timedelta = timedelta(days=1)):
    """Send `traffic` to the deployment's server, a request per row at the row's own
    time; each outcome comes back `label_delay` later. Returns the failed requests."""
    deployment = ws.follow_deployment(DEPLOYMENT)
    log = ws.prediction_log(MODEL)  # as `prodml serve --deployment` logs
    # A loaded CI machine must not turn a slow candidate into fallbacks the canary judges.
    app = create_app(deployment, log, ws.clock, labels=ws.metadata, candidate_timeout_ms=5000)
    failed = 0
    pending: list[tuple[pd.Timestamp, str, int]] = []
    with log, TestClient(app) as client:
        for row in traffic.itertuples(index=False):
            ws.clock.set(row.at.to_pydatetime())
            due = [p for p in pending if p[0] <= row.at]
            if due:
                body = {"labels": [{"request_id": r, "label": y} for _, r, y in due]}
                assert client.post("/v1/feedback", json=body).status_code == 200
                pending = pending[len(due) :]
            sent = {f: None if pd.isna(v) else v for f, v in zip(FIELDS, row[:3], strict=True)}
            # Ids from the row's time: each caller's arm in a canary is the same every run.
            request_id = {"x-request-id": f"toy-{row.at:%Y%m%dT%H%M}"}
            response = client.post("/v1/predict", json={"rows": [sent]}, headers=request_id)
            if response.status_code != 200:
                failed += 1
                continue
            pending.append((row.at + label_delay, response.json()["request_id"], int(row.y)))
    return failed
