"""The evaluation as pictures, saved with each model's run: the calibration and ROC curves
(classification) or predicted against actual (regression), and the metric per slice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_curve


def save_plots(
    y_true: ArrayLike, score: ArrayLike, evaluation: dict[str, Any], folder: Path
) -> list[Path]:
    """Write the task's plots (and slices.png, with slices) into `folder`; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    y, s = np.asarray(y_true), np.asarray(score, dtype=float)
    written: list[Path] = []

    if "calibration" in evaluation:  # a classifier
        written += _classifier_plots(plt, y, s, evaluation, folder)
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(np.asarray(y_true, dtype=float), s, s=4, alpha=0.3)
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
        written.append(_save(fig, folder / "predicted.png"))

    slices = [r for r in evaluation.get("slices", []) if not r["skipped"]]
    if slices:
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(slices) + 1))
        labels = [f"{r['column']}={r['value']}" for r in slices]
        estimates = np.array([r["estimate"] for r in slices])
        errors = [estimates - [r["low"] for r in slices], [r["high"] for r in slices] - estimates]
        ax.errorbar(estimates, range(len(slices)), xerr=errors, fmt="o")
        ax.set_yticks(range(len(slices)), labels)
        ax.invert_yaxis()
        ax.set(xlabel=f"{slices[0]['metric']} (95% interval)", title="Per slice")
        written.append(_save(fig, folder / "slices.png"))
    return written


def _classifier_plots(
    plt: Any, y: np.ndarray, s: np.ndarray, evaluation: dict[str, Any], folder: Path
) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 5))
    points = evaluation["calibration"]
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    ax.plot(
        [p["mean_predicted"] for p in points],
        [p["observed"] for p in points],
        marker="o",
        label="model",
    )
    ax.set(xlabel="mean predicted", ylabel="observed rate", title="Calibration (by decile)")
    ax.legend()
    calibration = _save(fig, folder / "calibration.png")
    fig, ax = plt.subplots(figsize=(5, 5))
    labels = y.astype(int)
    if np.unique(labels).size == 2:
        fpr, tpr, _ = roc_curve(labels, s)
        ax.plot(fpr, tpr, label=f"AUC {evaluation['metrics']['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend()
    return [calibration, _save(fig, folder / "roc.png")]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
