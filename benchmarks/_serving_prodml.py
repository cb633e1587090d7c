"""prodml's API on one uvicorn worker, prediction logging on: `python _serving_prodml.py
MODEL_DIR LOG_DIR PORT [STAGE]`.

STAGE (for `serving.py --breakdown`) keeps only part of a request's work, to show where
its time goes: "constant" answers a constant from prodml's fast lane (HTTP alone),
"predict" also scores a fixed row with the model, "answer" does everything but the
prediction log's write (records are built, not written), "full" (the default) is the
server as shipped.

With BENCH_ONLINE_URL set (sqlite:///… or redis://…), requests carry a customer key and the
model's stored features are looked up in that online store (see `_serving_data.py`).
"""

import os
import sys
from pathlib import Path

import orjson
import uvicorn

from prodml.cli.serve_app import settle
from prodml.clock import SystemClock
from prodml.registry import ModelVersionInfo
from prodml.serve import PredictionLog, Predictor, create_app
from prodml.train.model import TrainedModel

model_dir, log_dir, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
stage = sys.argv[4] if len(sys.argv) > 4 else "full"
enricher = None
if online := os.environ.get("BENCH_ONLINE_URL"):
    from _serving_data import feature_service

    from prodml.features.online import open_online_store
    from prodml.serve.enrich import Enricher

    service = feature_service(log_dir.parent)
    enricher = Enricher(open_online_store(online), service, SystemClock())
predictor = Predictor(
    TrainedModel.load(model_dir),
    ModelVersionInfo("bench", "1", "run", str(model_dir), ()),
    enricher=enricher,
)
# As a server settles: the trees compiled (cached beside the log) before the load starts.
compiling = predictor.compile_in_background(log_dir.parent / "compiled")
if compiling is not None:
    compiling.join()
print(f"prodml answers one row with: {predictor.engine}", file=sys.stderr)
log = PredictionLog(log_dir)
if stage == "answer":
    log.append = lambda records: sum(1 for _ in records)  # type: ignore[method-assign]
app = create_app(predictor, log, SystemClock())
if stage in ("constant", "predict"):
    row = [dict.fromkeys(predictor.model.spec.names, 0.5)]

    def partial(body: bytes, request_id: str | None, explain: bool) -> tuple[int, bytes]:
        score = predictor.predict(row)[0].score if stage == "predict" else 0.5
        return 200, orjson.dumps({"predictions": [{"probability": score}]})

    app.fast_lane.handle = partial
settle()  # as `prodml serve` does before taking traffic
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
