"""Drift report over 1,000,000 reference rows × 20 mixed columns (+ the prediction) against
1,000,000 current rows: prodml vs Evidently's DataDriftPreset, same data, same run.

Both sides use the same methods (Evidently's defaults for this size: the Wasserstein
distance in reference standard deviations for numeric columns, the Jensen–Shannon distance
for categorical ones, each drifted from 0.1), so the columns each calls drifted must agree.
Each side runs in a fresh process (Evidently in its own virtual environment, created here
on first use) and reports its timed part and its peak resident memory, data included.
prodml is timed twice: the full report (building the reference profile from the reference
rows, then comparing), and a further window with the profile saved by the first run.

    python benchmarks/drift.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _drift_data import PREDICTION, SHIFTS, make  # noqa: E402
from _peer import child, peer_python  # noqa: E402

EVIDENTLY_ENV = HERE / ".venvs" / "evidently"
EVIDENTLY = ("evidently==0.7.23", "pandas<3", "pyarrow")  # 0.7 imports what pandas 3 removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    evidently_python = peer_python(EVIDENTLY_ENV, EVIDENTLY)
    folder = Path(tempfile.mkdtemp(prefix="prodml-drift-"))
    print(f"Writing {args.rows:,} + {args.rows:,} rows to {folder}…", file=sys.stderr)
    make(folder, args.rows)
    print("… prodml (full)", file=sys.stderr)
    full = child(sys.executable, "_drift_prodml.py", str(folder), "full")
    print("… prodml (a further window)", file=sys.stderr)
    window = child(sys.executable, "_drift_prodml.py", str(folder), "window")
    print("… Evidently", file=sys.stderr)
    evidently = child(evidently_python, "_drift_evidently.py", str(folder), timeout=3600)
    figures = _figures(args.rows, full, window, evidently)
    _table(figures, full, evidently)
    print(json.dumps(figures))


def _figures(rows: int, full: dict, window: dict, evidently: dict) -> dict:
    ours, theirs = full["columns"], evidently["columns"]
    common = sorted(set(ours) & set(theirs))
    agree = sum(ours[c][2] == theirs[c][2] for c in common)
    return {
        "rows": rows,
        "columns": len(common),
        "prodml_full_s": full["seconds"],
        "prodml_window_s": window["seconds"],
        "evidently_s": evidently["seconds"],
        "prodml_peak_mb": full["peak_mb"],
        "prodml_window_peak_mb": window["peak_mb"],
        "evidently_peak_mb": evidently["peak_mb"],
        "drifted_prodml": sorted(c for c in common if ours[c][2]),
        "drifted_evidently": sorted(c for c in common if theirs[c][2]),
        "agreement": agree / max(1, len(common)),
        "max_statistic_difference": max(abs(ours[c][1] - theirs[c][1]) for c in common),
        "full_speed_ratio": evidently["seconds"] / full["seconds"],
        "window_speed_ratio": evidently["seconds"] / window["seconds"],
        "memory_ratio": evidently["peak_mb"] / full["peak_mb"],
    }


def _table(f: dict, full: dict, evidently: dict) -> None:
    print(
        f"\nDrift report, {f['rows']:,} reference rows vs {f['rows']:,} current rows, "
        f"{f['columns']} columns (the prediction included)\n"
    )
    print(f"{'':38}{'prodml':>12}{'Evidently':>12}{'ratio':>9}")
    print(
        f"{'full report, s':38}{f['prodml_full_s']:>12.2f}{f['evidently_s']:>12.2f}"
        f"{f['full_speed_ratio']:>8.1f}×"
    )
    print(
        f"{'a further window (profile saved), s':38}{f['prodml_window_s']:>12.2f}"
        f"{f['evidently_s']:>12.2f}{f['window_speed_ratio']:>8.1f}×"
    )
    print(
        f"{'peak memory, MB (data included)':38}{f['prodml_peak_mb']:>12.0f}"
        f"{f['evidently_peak_mb']:>12.0f}{f['memory_ratio']:>8.1f}×"
    )
    print(
        f"\nColumns drifted — prodml: {', '.join(f['drifted_prodml']) or 'none'}; Evidently: "
        f"{', '.join(f['drifted_evidently']) or 'none'}; agreement {f['agreement']:.0%}; "
        f"largest difference of a statistic {f['max_statistic_difference']:.2e}"
    )
    print(f"Injected shifts: {', '.join(f'{c} ({k} {s})' for c, (k, s) in SHIFTS.items())}")
    p = full["columns"][PREDICTION]
    print(f"Prediction drift ({PREDICTION}): {p[0]} {p[1]:.3f}, drifted: {p[2]}\n")


if __name__ == "__main__":
    main()
