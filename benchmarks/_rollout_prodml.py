"""prodml's API serving a deployment of the serving benchmark's model, prediction log on:
`python _rollout_prodml.py MODEL_DIR LOG_DIR PORT POLICY`.

POLICY is "single" (one version), "canary" (90 % stable, 10 % candidate) or "shadow" (the
stable answers; the candidate scores a copy after each answer). The candidate is the same
model loaded a second time, so its scoring costs exactly what the stable's does.
"""

import sys
from pathlib import Path

import uvicorn

from prodml.cli.serve_app import settle
from prodml.clock import SystemClock
from prodml.registry import ModelVersionInfo
from prodml.serve import Deployment, PredictionLog, Predictor, create_app
from prodml.serve.policy import Policy
from prodml.serve.routing import Routing
from prodml.train.model import TrainedModel

model_dir, log_dir, port, kind = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def _version(number: str) -> Predictor:
    predictor = Predictor(
        TrainedModel.load(model_dir), ModelVersionInfo("bench", number, "run", str(model_dir), ())
    )
    compiling = predictor.compile_in_background(log_dir.parent / "compiled")
    if compiling is not None:
        compiling.join()
    return predictor


stable, candidate = _version("1"), _version("2")
policy = {
    "single": Policy.single("bench", "1"),
    "canary": Policy.canary("bench", "1", "2", steps=(0.1, 1.0)),
    "shadow": Policy.shadow("bench", "1", "2"),
}[kind]
predictors = {"stable": stable} if kind == "single" else {"stable": stable, "candidate": candidate}
routing = Routing(policy, predictors, deployment="bench")
app = create_app(Deployment(routing), PredictionLog(log_dir), SystemClock())
settle()
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
