"""Test data generated in code (no test downloads anything)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def toy_frame(rng: np.random.Generator, n: int = 4000) -> pd.DataFrame:
    """A small classification problem with a signal in one numeric and one categorical."""
    frame = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    logit = 1.5 * frame["size"] + (frame["color"] == "red") * 1.0 - 0.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[frame.index % 17 == 0, "noise"] = np.nan
    return frame
