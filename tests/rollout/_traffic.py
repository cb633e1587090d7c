"""What the rollout tests against real servers share: toy rows with a truth to feed
back, callers in a thread, and the analysis ticked until it decides."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from prodml.rollout.analysis import Decision
from prodml.workspace import Workspace
from tests._data import TOY_SPEC, toy_frame


def labelled(rng: np.random.Generator, n: int, red: float = 1.0) -> pd.DataFrame:
    """Toy rows whose truth leans on red by `red`. A model trained on the wrong lean
    (-0.75) is subtly worse, about 0.05 ROC AUC, with the same base rate (a third of the
    rows are red), so its scores look much like the stable's."""
    frame = toy_frame(rng, n)
    logit = 1.5 * frame["size"] + ((frame["color"] == "red") - 1 / 3) * red - 0.5 + 1 / 3
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


class Traffic:
    """Callers in a thread: `rows` rows per request, their labels fed back after each
    answer if `labels`; every status kept (0: no answer at all) with the request's id."""

    def __init__(self, url: str, *, rows: int = 1, labels: bool = False) -> None:
        self.url, self.rows, self.labels = url, rows, labels
        self.statuses: list[int] = []
        self.ids: list[str | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                frame = labelled(rng, self.rows)
                inputs = frame[list(TOY_SPEC.names)]
                rows = inputs.astype(object).where(inputs.notna(), None).to_dict("records")
                try:
                    response = client.post("/v1/predict", json={"rows": rows})
                except httpx.TransportError:  # the server is gone (a test killed it)
                    self.statuses.append(0)
                    self.ids.append(None)
                    time.sleep(0.05)
                    continue
                self.statuses.append(response.status_code)
                ok = response.status_code == 200
                self.ids.append(response.json()["request_id"] if ok else None)
                if self.labels and ok:
                    request = response.json()["request_id"]
                    labels = [
                        {"request_id": request, "row": i, "label": int(y)}
                        for i, y in enumerate(frame["y"])
                    ]
                    client.post("/v1/feedback", json={"labels": labels})

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)


def until_decided(ws: Workspace, name: str, *, limit: float = 60.0) -> tuple[list[Decision], float]:
    """Tick every second until the rollout is promoted or rolled back; the decisions and
    the seconds of traffic it took."""
    started, decisions = time.monotonic(), []
    while time.monotonic() - started < limit:
        time.sleep(1)
        decision = ws.analysis.tick(name)
        decisions.append(decision)
        if decision.action in ("promote", "rollback"):
            break
    return decisions, time.monotonic() - started


def in_process(client: Any, workspace: Workspace, requests: int = 300) -> None:
    """`requests` one-row requests to an in-process server of deployment "toy-api", the
    workspace's clock moving a quarter second after each; every one must be answered."""
    rng = np.random.default_rng(len(workspace.metadata.deployment_history("toy-api")))
    frame = toy_frame(rng, requests)[list(TOY_SPEC.names)]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        response = client.post("/v1/predict", json={"rows": [row]})
        assert response.status_code == 200, response.text  # no caller ever sees an error
        workspace.clock.advance(timedelta(seconds=0.25))
