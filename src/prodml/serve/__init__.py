"""Serving: the HTTP API, hot swap, batch scoring and the durable prediction log."""

from prodml.predlog import PredictionLog
from prodml.serve.app import create_app
from prodml.serve.batch import BatchResult, score_file
from prodml.serve.deployment import Deployment
from prodml.serve.predictor import Prediction, Predictor

__all__ = [
    "BatchResult",
    "Deployment",
    "Prediction",
    "PredictionLog",
    "Predictor",
    "create_app",
    "score_file",
]
