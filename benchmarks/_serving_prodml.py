"""prodml's API on one uvicorn worker, prediction logging on: `python _serving_prodml.py
MODEL_DIR LOG_DIR PORT`."""

import sys
from pathlib import Path

import uvicorn

from prodml.cli.serve_app import settle
from prodml.clock import SystemClock
from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.train.model import TrainedModel

model_dir, log_dir, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
predictor = Predictor(
    TrainedModel.load(model_dir), ModelVersionInfo("bench", "1", "run", str(model_dir), ())
)
# As a server settles: the trees compiled (cached beside the log) before the load starts.
compiling = predictor.compile_in_background(log_dir.parent / "compiled")
if compiling is not None:
    compiling.join()
print(f"prodml answers one row with: {predictor.engine}", file=sys.stderr)
app = create_app(predictor, PredictionLog(log_dir), SystemClock())
settle()  # as `prodml serve` does before taking traffic
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
