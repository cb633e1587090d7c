"""prodml's API on one uvicorn worker, prediction logging on, with or without the token
check: `python _governance_prodml.py MODEL_DIR PROJECT_DIR PORT AUTH`.

AUTH "on" passes the workspace's `Guard` to the app, as `prodml serve` does with
governance.auth on: every request must carry `Authorization: Bearer <token>` of a role
that may predict (tokens live in PROJECT_DIR's metadata database). "off" serves without
it, as `prodml serve` does with governance.auth off.
"""

import sys
from pathlib import Path

import uvicorn

from prodml.cli.serve_app import settle
from prodml.clock import SystemClock
from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.train.model import TrainedModel
from prodml.workspace import Workspace

model_dir, project, port, auth = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ws = Workspace.open(project)
predictor = Predictor(
    TrainedModel.load(model_dir), ModelVersionInfo("bench", "1", "run", str(model_dir), ())
)
# As a server settles: the trees compiled (cached in the project) before the load starts.
compiling = predictor.compile_in_background(project / "compiled")
if compiling is not None:
    compiling.join()
log = PredictionLog(project / f"log-{auth}")
app = create_app(predictor, log, SystemClock(), guard=ws.guard if auth == "on" else None)
settle()  # as `prodml serve` does before taking traffic
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
