"""BentoML's service for the same booster (run by `bentoml serve` in its own venv)."""

import os

import bentoml
import lightgbm as lgb
import numpy as np


@bentoml.service(workers=1)
class Scorer:
    def __init__(self) -> None:
        self.booster = lgb.Booster(model_file=os.environ["BENCH_MODEL_FILE"])

    @bentoml.api
    def predict(self, rows: list[list[float | None]]) -> list[float]:
        x = np.array(rows, dtype=float)
        return self.booster.predict(x, num_threads=1).tolist()
