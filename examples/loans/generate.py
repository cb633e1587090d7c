"""Generated loan applications, for showing the fairness gate (and, with `drift`, monitoring).

Whether an applicant repays depends on their finances alone: income, debt ratio, years
employed, and the loan's size against their income. Two sensitive attributes, `sex` and
`age_band`, play no part in it. `occupation` is a proxy: it tells the sexes apart (as it
does in many real portfolios) but says nothing of repayment by itself.

Two knobs make the data less innocent, as real lending history is:

- `bias` (0-1): the share of women's repayments recorded as defaults: historical labels
  that wronged a group. A model trained on them learns to refuse women through the proxy,
  even though `sex` is not among its features;
- `drift` (0-1): applicants poorer and more indebted than before (incomes lower by up to
  30 %, debt ratios higher by up to 0.15): the population moved.

Everything is drawn from `seed`, so the same arguments give the same rows.

    python examples/loans/generate.py --rows 20000 --bias 0.5 --seed 1 -o loans.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

OCCUPATIONS = {  # (share among women, share among men)
    "care": (0.35, 0.05),
    "admin": (0.30, 0.15),
    "retail": (0.15, 0.15),
    "trades": (0.05, 0.35),
    "tech": (0.15, 0.30),
}
AGE_BANDS = ("18-29", "30-49", "50+")


def applications(
    rows: int, *, seed: int = 0, bias: float = 0.0, drift: float = 0.0, start: str = "2024-01-01"
) -> pd.DataFrame:
    """`rows` loan applications over one year from `start`, with whether each was repaid
    (`repaid`: yes/no), the recorded labels wronging women by `bias`, the applicants moved
    by `drift` (see the module's docstring)."""
    if not 0.0 <= bias <= 1.0 or not 0.0 <= drift <= 1.0:
        raise ValueError(f"bias and drift must be in [0, 1]; got bias={bias}, drift={drift}.")
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], rows)
    women = sex == "F"
    names = list(OCCUPATIONS)
    occupation = np.where(
        women,
        rng.choice(names, rows, p=[w for w, _ in OCCUPATIONS.values()]),
        rng.choice(names, rows, p=[m for _, m in OCCUPATIONS.values()]),
    )
    income = rng.lognormal(np.log(42_000), 0.45, rows) * (1 - 0.3 * drift)
    debt_ratio = np.clip(rng.beta(2.0, 5.0, rows) + 0.15 * drift, 0, 0.95)
    years = rng.gamma(2.0, 4.0, rows).round(1)
    amount = (income * rng.uniform(0.1, 0.8, rows)).round(-2)
    stretched = amount / income > 0.5
    logit = (  # thresholds and an interaction: what lenders' scorecards find, and trees too
        1.8
        + 1.0 * np.log(income / 42_000)
        - 2.5 * (debt_ratio > 0.4)
        - 2.0 * ((years < 2) & stretched)
        + 0.8 * (years > 10)
        - 1.0 * stretched
    )
    repaid = rng.random(rows) < 1 / (1 + np.exp(-logit))
    recorded = repaid & ~(women & (rng.random(rows) < bias))
    applied = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 365 * 86_400, rows)), unit="s"
    )
    return pd.DataFrame(
        {
            "application_id": [f"A{seed}-{i:07d}" for i in range(rows)],
            "applied_at": applied.floor("s"),
            "sex": sex,
            "age_band": rng.choice(AGE_BANDS, rows, p=[0.3, 0.45, 0.25]),
            "occupation": occupation,
            "income": income.round(-1),
            "debt_ratio": debt_ratio.round(3),
            "years_employed": years,
            "loan_amount": amount,
            "repaid": np.where(recorded, "yes", "no"),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bias", type=float, default=0.0, help="women's repayments lost (0-1)")
    parser.add_argument("--drift", type=float, default=0.0, help="applicants poorer (0-1)")
    parser.add_argument("-o", "--output", type=Path, default=Path("loans.csv"))
    args = parser.parse_args()
    frame = applications(args.rows, seed=args.seed, bias=args.bias, drift=args.drift)
    frame.to_csv(args.output, index=False)
    print(f"{len(frame):,} applications written to {args.output}")


if __name__ == "__main__":
    main()
