"""The fairness gate on generated loans: a model trained on fair history is released; one
trained on history that wronged women is blocked, with the figures, although `sex` is not
among its features; an approver then grants a recorded exception.

    python examples/loans/run.py [--project DIR]

Everything lands in DIR (a new temporary folder by default): the workspace, its audit log
and the model cards (`DIR/cards/`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import applications

import prodml
from prodml.registry.promotion import allow

SETTINGS = """\
training:
  time: applied_at
  exclude: [sex, age_band]   # never decide on them; the gate still judges by them
monitoring:
  sensitive: [sex, age_band]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=12_000)
    args = parser.parse_args()
    project = args.project or Path(tempfile.mkdtemp(prefix="prodml-loans-"))
    project.mkdir(parents=True, exist_ok=True)
    (project / "prodml.yaml").write_text(SETTINGS)
    with prodml.open(project) as ws:
        print(f"Workspace: {project}\n")
        print("1. History recorded fairly (bias 0): trained, judged, released.")
        fair = _train(ws, applications(args.rows, seed=1, bias=0.0))
        print("\n2. A year of history that recorded half of women's repayments as defaults")
        print("   (bias 0.5): the model learns to refuse women through their occupation.")
        biased = _train(ws, applications(args.rows, seed=2, bias=0.5, start="2025-01-01"))
        if not fair.passed or biased.passed:
            raise SystemExit("The gate should have released the first and blocked the second.")
        ref = biased.version.ref
        print(f"\n3. An approver grants an exception for {ref}, with a reason.")
        granted = allow(
            ref,
            reason="loss-rate parity was reviewed by the credit committee (CC-2025-031); "
            "released to challenger for a monitored canary only",
            actor="approver:alice",
            now=ws.clock.now(),
            registry=ws.registry,
            tracker=ws.tracker,
        )
        exception = json.loads(granted.tags["prodml.fairness.exception"])
        print(
            f"   {granted.ref} is now @{', @'.join(granted.aliases)}; granted by {exception['by']}."
        )
        events = [e for e in ws.audit.events(target="loans") if e.action == "fairness.exception"]
        print(f"   Audit event #{events[-1].seq}: {events[-1].action} on {events[-1].target}.")
        print(f"   {ws.audit.verify().sentence()}")
        cards = project / "cards"
        for version in (fair.version, granted):
            from prodml.registry.card import write_card

            markdown, _ = write_card(version, ws.tracking_uri, cards / version.version)
            print(f"   Card with its fairness section: {markdown}")


def _train(ws: prodml.Workspace, rows) -> prodml.Registered:
    prodml.ingest(rows, name="loans", workspace=ws)
    registered = prodml.train_table("loans", label="repaid", positive="yes", workspace=ws)
    report = json.loads(registered.version.tags["prodml.fairness"])
    for name, figures in report["attributes"].items():
        ratio = figures["demographic_parity_ratio"]
        odds = figures["equalized_odds_difference"]
        rates = ", ".join(f"{g} {f['selection_rate'][0]:.2f}" for g, f in figures["groups"].items())
        print(
            f"   {name:<13} approval rate {rates}; parity ratio {ratio['value']:.2f} "
            f"[{ratio['interval'][0]:.2f}, {ratio['interval'][1]:.2f}], "
            f"equalized-odds difference {odds['value']:.3f}"
        )
    verdict = "released" if registered.passed else "BLOCKED"
    aliases = ", ".join(f"@{a}" for a in registered.version.aliases) or "no alias"
    print(f"   {registered.version.ref}: {verdict} ({aliases})")
    for reason in registered.gate["reasons"]:
        print(f"     - {reason}")
    return registered


if __name__ == "__main__":
    main()
