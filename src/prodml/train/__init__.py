"""Training: baselines first, then candidates, each evaluated and tracked in MLflow."""

from prodml.train.encoding import FeatureSpec, TabularEncoder
from prodml.train.evaluate import classification_metrics
from prodml.train.model import TrainedModel, fit_model

__all__ = ["FeatureSpec", "TabularEncoder", "TrainedModel", "classification_metrics", "fit_model"]
