"""Serving: the HTTP API, batch scoring and the durable prediction log."""

from prodml.serve.app import create_app
from prodml.serve.batch import score_parquet
from prodml.serve.predictor import Predictor
from prodml.serve.predlog import PredictionLog

__all__ = ["PredictionLog", "Predictor", "create_app", "score_parquet"]
