"""The hand-written side of benchmarks/train.py: DATA.

What a person would write with LightGBM alone, on the same matrix prodml fits: the same
split (time), the same parameters, the number of rounds found by early stopping on the
training rows' last tenth, then the same fit again on every training row with that many
rounds (prodml's procedure, see `train/tabular.py` `_fit`). Only the two `lgb.train`
calls (with their Dataset construction) are timed.
"""

import json
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from _train_data import CATEGORICAL, LABEL, NUMERIC, TIME, VALID_FROM

from prodml.train.flavors.lightgbm import DEFAULT_PARAMS

if __name__ == "__main__":
    frame = pd.read_parquet(sys.argv[1])
    train = frame[frame[TIME] < pd.Timestamp(VALID_FROM)].sort_values(TIME, kind="stable")
    codes = {c: {v: i for i, v in enumerate(sorted(train[c].unique()))} for c in CATEGORICAL}
    matrix = np.column_stack(
        [train[c].map(codes[c]).to_numpy(float) for c in CATEGORICAL]
        + [train[c].to_numpy(float) for c in NUMERIC]
    )
    y = train[LABEL].to_numpy()
    cut = int(len(train) * 0.9)
    categorical = list(range(len(CATEGORICAL)))
    started = time.perf_counter()
    fit = lgb.Dataset(matrix[:cut], y[:cut], categorical_feature=categorical)
    held = lgb.Dataset(matrix[cut:], y[cut:], reference=fit, categorical_feature=categorical)
    found = lgb.train(
        {**DEFAULT_PARAMS, "seed": 0, "metric": "auc"},
        fit,
        num_boost_round=1000,
        valid_sets=[held],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    every = lgb.Dataset(matrix, y, categorical_feature=categorical)
    lgb.train({**DEFAULT_PARAMS, "seed": 0}, every, num_boost_round=found.best_iteration)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rounds": found.best_iteration}))
