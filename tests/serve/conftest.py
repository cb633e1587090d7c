"""What the API tests share: a logistic model on the toy problem, served as toy@champion
(a test module needing another predictor defines its own `predictor`)."""

import numpy as np
import pytest

from prodml.registry import ModelVersionInfo
from prodml.serve import Predictor
from prodml.train import fit_model
from tests._data import TOY_SPEC, toy_frame


@pytest.fixture(scope="module")
def predictor():
    model = fit_model("logistic", toy_frame(np.random.default_rng(2), 1000), "y", TOY_SPEC)
    return Predictor(model, ModelVersionInfo("toy", "3", "run", "src", ("champion",)))
