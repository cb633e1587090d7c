"""A retrain's recipe: the champion's own recipe on its snapshots, widened by the labelled
production batches and split so the newest labelled traffic is held out.

It is recorded on the retrained version like any recipe (`RETRAINED` with its config), so
`prodml models reproduce` re-runs a retrain from its snapshots as it does a first training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml.automate.production import KEYS, TIME
from prodml.errors import TrainingError
from prodml.monitor.labels import LABEL
from prodml.train.tabular import Recipe, load_recipe

RETRAINED = f"{__name__}:retrained"
_ORIGINAL_TIME = "__prodml_time"  # the split's clock when the base recipe has none


def retrained(
    snapshots: dict[str, pd.DataFrame], workdir: Path, *, config: Mapping[str, Any]
) -> Recipe:
    """The recipe `config` describes: `recipe` (with its `config`) run on the snapshots
    named in `inputs`, widened by the `batches` (see `widen`)."""
    base = load_recipe(config["recipe"], config.get("config"))
    made = base({name: snapshots[name] for name in config["inputs"]}, workdir / "base")
    production = [snapshots[name] for name in config["batches"]]
    return widen(
        made,
        pd.concat(production, ignore_index=True) if production else pd.DataFrame(),
        holdout_from=datetime.fromisoformat(config["holdout_from"]),
        window=config["window"],
        window_days=config["window_days"],
        half_life_days=config["half_life_days"],
        seed=config.get("seed", 0),
        gate_margin=config.get("gate_margin"),
    )


def widen(
    recipe: Recipe,
    production: pd.DataFrame,
    *,
    holdout_from: datetime,
    window: str = "growing",
    window_days: float = 180.0,
    half_life_days: float = 90.0,
    seed: int = 0,
    gate_margin: float | None = None,
) -> Recipe:
    """`recipe`'s examples with the `production` rows (keys, `TIME`, features, `LABEL`)
    after them, split in time: rows from `holdout_from` on validate (the retrained model
    is judged there against the baselines and the champion, on traffic it never trained
    on); earlier rows train, all of them (`growing`), the last `window_days` (`sliding`)
    or each kept with probability ½ per `half_life_days` of age (`weighted`, seeded).
    `gate_margin` replaces the recipe's (negative: the champion must be beaten by that)."""
    spec = recipe.spec
    clock = spec.time_column or _ORIGINAL_TIME
    examples = recipe.examples.copy()
    if production.empty:
        rows = examples
    else:
        new = production.drop_duplicates(list(KEYS), keep="last").rename(
            columns={TIME: clock, LABEL: spec.label}
        )
        new[spec.label] = new[spec.label].astype(examples[spec.label].dtype)
        if spec.time_column is None:  # the base rows come before any production row
            examples[clock] = new[clock].min() - pd.Timedelta(seconds=1)
        keep = [c for c in new.columns if c in examples.columns]
        rows = pd.concat([examples, new[keep]], ignore_index=True)
    times = pd.to_datetime(rows[clock], utc=True)
    start = pd.Timestamp(holdout_from)
    before = times < start
    age_days = ((start - times) / timedelta(days=1)).to_numpy()
    if window == "sliding":
        before &= age_days <= window_days
    elif window == "weighted":
        draw = np.random.default_rng(seed).random(len(rows))
        before &= draw < np.power(0.5, np.clip(age_days, 0, None) / half_life_days)
    used = rows[before | (times >= start)].reset_index(drop=True)
    if not (times >= start).any():
        raise TrainingError(
            f"No labelled row from {start} on to judge the retrained model by: lower "
            "automate.policy.holdout_days, or wait for outcomes to come back."
        )
    return dataclasses.replace(
        recipe,
        examples=used,
        spec=dataclasses.replace(
            spec,
            time_column=clock,
            valid_from=start,
            valid_until=None,
            gate_margin=spec.gate_margin if gate_margin is None else gate_margin,
        ),
    )
