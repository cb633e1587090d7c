"""prodml: carry a tabular model from the notebook to production, and keep it healthy there.

The front door, for a notebook or a script (each name is imported on first use, so
`import prodml` stays quick):

- `open(dir)` → `Workspace`: where all state lives (its `prodml.yaml`);
- `ingest(frame_or_path, name=...)`: validate and keep a snapshot (a contract inferred
  the first time, for you to review);
- `train_table(name, label=...)`: baselines, LightGBM, a gate, a registered version
  (`prodml.train` is the training package itself, so the verb says what it trains on);
- `register(model, X, y, name=...)`: a model fitted elsewhere, judged and registered;
- `load(ref)`: a registered version ready to `.predict(rows)`;
- `Contract`, `Recipe`, `TrainSpec`, `Candidate`: for what needs code.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("prodml")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_EXPORTS = {
    "Workspace": "prodml.workspace",
    "open": "prodml.api",
    "ingest": "prodml.api",
    "train_table": "prodml.api",
    "register": "prodml.api",
    "load": "prodml.api",
    "Contract": "prodml.data.contract",
    "Recipe": "prodml.train.tabular",
    "TrainSpec": "prodml.train.tabular",
    "Candidate": "prodml.train.tabular",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'prodml' has no attribute {name!r}")
