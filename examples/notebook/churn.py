# %% [markdown]
# # From a notebook to production, with a model you fitted yourself
#
# Fit a scikit-learn `Pipeline` the way you always do, then hand it to prodml: it is
# judged against baselines on rows it never saw, registered with its lineage and a model
# card, and from then on served, batch-scored and monitored like any prodml model.
# Run it as a script (`python examples/notebook/churn.py`) or cell by cell in Jupyter or
# VS Code; everything lands in `.prodml/` of the working folder.

# %%
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

import prodml

FEATURES = ["plan", "region", "tenure_months", "monthly_spend", "support_tickets"]


def customers(n: int, seed: int) -> pd.DataFrame:
    """Generated customers: who churns depends on an interaction a linear model misses."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed}-{i:06d}" for i in range(n)],
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "tenure_months": rng.integers(1, 72, n),
            "monthly_spend": rng.gamma(2.0, 30.0, n).round(2),
            "support_tickets": rng.poisson(1.5, n),
        }
    )
    unusual_spend = (frame["monthly_spend"] < 25) | (frame["monthly_spend"] > 110)
    new = frame["tenure_months"] < 24
    unhelped = (frame["support_tickets"] >= 3) & (frame["plan"] != "team")
    logit = -2.5 + 3.0 * (unusual_spend & new) + 2.0 * unhelped + 0.5 * (frame["region"] == "north")
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


history = customers(10_000, seed=0)
train, valid = history.iloc[:7000], history.iloc[7000:]

# %% [markdown]
# Fit as usual: a column transformer and gradient-boosted trees.

# %%
pipeline = make_pipeline(
    ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["plan", "region"],
            )
        ],
        remainder="passthrough",
    ),
    HistGradientBoostingClassifier(max_iter=200, random_state=0),
).fit(train[FEATURES], train["churned"])

# %% [markdown]
# Keep what it learned from as a validated snapshot (a contract is inferred the first time
# and written beside the notebook, to review), then register the model: it is judged on
# the validation rows against a majority-class and a logistic baseline, and passing earns
# `churn@champion`.

# %%
snapshot = prodml.ingest(train, name="churn-training").snapshot
registered = prodml.register(
    pipeline,
    valid[FEATURES],
    valid["churned"],
    name="churn",
    data=snapshot,
    intended_use="Rank customers by their risk of leaving next month, for retention offers.",
)
print(registered.version.ref, registered.version.aliases, "gate passed:", registered.passed)
for model, figures in registered.evaluations.items():
    print(f"  {model:>10}: ROC AUC {figures['metrics']['roc_auc']:.3f}")

# %% [markdown]
# The registered version answers exactly as the server will, with a conformal prediction
# set beside each probability.

# %%
predictor = prodml.load("churn@champion")
rows = valid[FEATURES].head(3).to_dict("records")
for row, answer in zip(rows, predictor.predict(rows), strict=True):
    print(row, "→", answer.to_dict())

# %% [markdown]
# From here on it is a prodml model like any other:
#
# ```bash
# prodml serve churn@champion              # POST /v1/predict, every answer logged
# prodml score churn@champion -i new.csv -o scores.parquet -k customer_id
# prodml monitor run churn                 # drift against what it learned from
# prodml models card churn@champion        # the model card, lineage to the snapshot
# ```
