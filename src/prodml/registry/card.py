"""Model cards: one page per registered version, for a reader who has never seen the code.

Built only from what the registry and the tracking store hold (the version's tags, its
run's metrics and `evaluation.json`, its dataset inputs), so any version can be described
at any time. Markdown with YAML front matter for machines, and the same as HTML.
"""

from __future__ import annotations

import json
import tempfile
from html import escape
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from mlflow import MlflowClient

from prodml.registry.registry import EXCEPTION_TAG, FAIRNESS_TAG, ModelVersionInfo
from prodml.train.tracking import FEATURE_SERVICE_TAG, mlflow_errors

# The label-free estimate's error as measured at registration, and what it was calibrated
# on (JSON; set once the version's drift reference is built, see `workflow`).
ESTIMATE_TAG = "prodml.estimate"


def build_card(info: ModelVersionInfo, tracking_uri: str) -> str:
    """The Markdown card of one version (front matter first)."""
    with mlflow_errors(tracking_uri, f"reading the run of {info.ref}"):
        client = MlflowClient(tracking_uri)
        run = client.get_run(info.run_id) if info.run_id else None
        evaluation = run_evaluation(client, info.run_id) if info.run_id else {}
    tags = dict(info.tags)
    card = json.loads(tags.get("prodml.card", "{}"))
    gate = json.loads(tags.get("prodml.gate", "{}"))
    estimate = json.loads(tags.get(ESTIMATE_TAG, "{}"))
    fairness = json.loads(tags.get(FAIRNESS_TAG, "{}"))
    exception = json.loads(tags.get(EXCEPTION_TAG, "{}"))
    metrics = dict(run.data.metrics) if run else {}
    inputs = [
        {
            "name": d.dataset.name,
            **json.loads(d.dataset.source or "{}"),
            **json.loads(d.dataset.profile or "{}"),
        }
        for d in (run.inputs.dataset_inputs if run and run.inputs else [])
    ]
    front = {
        "model": info.name,
        "version": info.version,
        "aliases": list(info.aliases),
        "registered": info.created_at,
        "flavor": tags.get("prodml.flavor"),
        "run_id": info.run_id,
        "feature_service": tags.get(FEATURE_SERVICE_TAG),
        "feature_service_version": tags.get(f"{FEATURE_SERVICE_TAG}_version"),
        "snapshots": {i["name"]: i.get("snapshot_id") for i in inputs},
        "metrics": {k: round(v, 6) for k, v in sorted(metrics.items())},
        "gate_passed": gate.get("passed"),
        "fairness_passed": fairness.get("passed"),
        "fairness_exception": exception or None,
        "estimate_error": estimate or None,
        "git_commit": run.data.tags.get("mlflow.source.git.commit") if run else None,
        "environment": run.data.tags.get("prodml.environment") if run else None,
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", ""]
    lines += [f"# {info.name}, version {info.version}", ""]
    aliases = ", ".join(f"`@{a}`" for a in info.aliases) or "no alias"
    lines += [
        f"A {front['flavor'] or 'model'} "
        f"{'regressor' if card.get('task') == 'regression' else 'classifier'} registered on "
        f"{info.created_at[:10]} "
        f"({aliases}).",
        "",
        "## Intended use",
        "",
        card.get("intended_use") or "_Not stated when it was trained._",
        "",
        "## Data",
        "",
        *([f"Validation rows: {card['split']}.", ""] if card.get("split") else []),
        "| part | rows | from | to |",
        "| --- | ---: | --- | --- |",
    ]
    for part, span in card.get("data", {}).items():
        name = {
            "train": "training",
            "valid": "validation",
            "reserve": "held back (for the estimate)",
        }.get(part, part)
        # A random split has no time span: its rows come from the whole table.
        start, end = span.get("from", "—"), span.get("to", "—")
        lines.append(f"| {name} | {span['rows']:,} | {start} | {end} |")
    lines += [
        "",
        "Read from these snapshots (content-addressed: the id is a SHA-256 of every row):",
        "",
    ]
    lines += [
        f"- **{i['name']}**: `{i.get('snapshot_id', '?')}`, {i.get('num_rows', '?'):,} rows"
        for i in inputs
    ]
    features = evaluation.get("features", {})
    if features:
        lines += [
            "",
            "## Features",
            "",
            f"Categorical: {', '.join(features['categorical']) or 'none'}.",
            "",
            f"Numeric: {', '.join(features['numeric']) or 'none'}.",
        ]
        if front["feature_service"]:
            lines += [
                "",
                f"Served through feature service `{front['feature_service']}` (version "
                f"`{front['feature_service_version']}`): a request gives the keys, the rest is "
                "looked up as of the request's time.",
            ]
    lines += [
        "",
        "## Performance on the validation rows",
        "",
        "| metric | value |",
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {v:.4f} |" for k, v in sorted(evaluation.get("metrics", metrics).items())]
    threshold = evaluation.get("best_threshold")
    if threshold:
        costs = card.get("costs", {})
        lines += [
            "",
            f"With a missed positive costing {costs.get('false_negative', '?')} and a false alarm "
            f"{costs.get('false_positive', '?')}, the threshold that minimises the cost is "
            f"**{threshold['threshold']:.3f}** ({threshold['cost_per_row']:.4f} per row).",
        ]
    if gate:
        lines += ["", "## Against the baselines and the champion", ""]
        verdict = "passed" if gate.get("passed") else "did not pass"
        lines += [
            f"The promotion gate ({gate.get('metric')}, decided "
            f"{gate.get('decided_at', '')[:19]}) {verdict}.",
            "",
        ]
        lines += [
            "| against | role | improvement | 95% interval | needed above |",
            "| --- | --- | ---: | --- | ---: |",
        ]
        for c in gate.get("comparisons", []):
            lines.append(
                f"| {c['against']} | {c['role']} | {c['improvement']:+.4f} | "
                f"[{c['low']:+.4f}, {c['high']:+.4f}] | {c['required_above']:+.4f} |"
            )
        lines += [f"- {reason}" for reason in gate.get("reasons", [])]
    slices = evaluation.get("slices", [])
    if slices:
        lines += [
            "",
            "## Per slice",
            "",
            "| slice | rows | estimate | 95% interval |",
            "| --- | ---: | ---: | --- |",
        ]
        for s in slices:
            if s["skipped"]:
                lines.append(
                    f"| {s['column']} = {s['value']} | {s['rows']:,} | — | {s['skipped']} |"
                )
            else:
                lines.append(
                    f"| {s['column']} = {s['value']} | {s['rows']:,} | {s['estimate']:.3f} | "
                    f"[{s['low']:.3f}, {s['high']:.3f}] |"
                )
    calibration = evaluation.get("calibration", [])
    decision = evaluation.get("calibration_decision")
    if calibration:
        lines += ["", "## Calibration", ""]
        if decision:
            applied = decision["method"] is not None
            lines += [
                (
                    "Isotonic calibration is applied to the scores: "
                    if applied
                    else "No calibration is applied: "
                )
                + f"on validation rows it was not fitted on, the Brier score "
                f"{'drops' if applied else 'would go'} from {decision['brier_raw']:.4f} to "
                f"{decision['brier_calibrated_held_out']:.4f}"
                + ("." if applied else ", not enough to be worth it."),
                "",
            ]
        lines += ["Raw predicted against observed rate, by score decile:", ""]
        lines += ["| predicted | observed | rows |", "| ---: | ---: | ---: |"]
        lines += [
            f"| {c['mean_predicted']:.3f} | {c['observed']:.3f} | {c['rows']:,} |"
            for c in calibration
        ]
    lines += _fairness_section(fairness, exception)
    lines += _estimate_section(estimate)
    lines += ["", "## Known limitations", ""]
    lines += [f"- {item}" for item in card.get("limitations", [])] or ["- _None recorded._"]
    lines += [
        "",
        "## Lineage",
        "",
        f"- MLflow run `{info.run_id}`; model files `{info.source}`, each checked against its "
        "SHA-256 manifest before loading.",
        f"- Code: git commit `{front['git_commit'] or 'unknown'}`"
        + (
            " (with uncommitted changes)"
            if run and run.data.tags.get("prodml.git_dirty") == "true"
            else ""
        )
        + f"; installed packages hash `{front['environment'] or 'unknown'}`.",
        "",
    ]
    return "\n".join(lines)


def _fairness_section(report: dict[str, Any], exception: dict[str, Any]) -> list[str]:
    """Per sensitive attribute (and intersection), each group's rates with their 95 %
    intervals, the two disparities, the verdict and any exception granted."""
    if not report:
        return []
    rules = report["rules"]
    verdict = "passed" if report["passed"] else "**blocked** the release"
    lines = [
        "",
        "## Fairness",
        "",
        f"On the validation rows, decisions at a score of 0.5 or more; the check {verdict} "
        f"(demographic-parity ratio at least {rules['min_ratio']}, equalized-odds difference "
        f"at most {rules['max_odds_difference']}, unless the gap's interval includes parity; "
        f"groups under {rules['min_group_rows']} rows are not judged).",
    ]
    for name, figures in report["attributes"].items():
        ratio, odds = figures["demographic_parity_ratio"], figures["equalized_odds_difference"]
        lines += [
            "",
            f"### {name}",
            "",
            f"Demographic-parity ratio **{ratio['value']:.3f}** "
            f"[{ratio['interval'][0]:.3f}, {ratio['interval'][1]:.3f}]; equalized-odds "
            f"difference **{odds['value']:.3f}** [{odds['interval'][0]:.3f}, "
            f"{odds['interval'][1]:.3f}].",
            "",
            "| group | rows | selection rate | TPR | FPR | calibration |",
            "| --- | ---: | --- | --- | --- | --- |",
        ]
        for group, g in figures["groups"].items():
            cells = " | ".join(
                f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for v in (g[m] for m in _GROUP_RATES)
            )
            lines.append(f"| {group} | {g['rows']:,} | {cells} |")
        small = figures.get("too_small") or {}
        if small:
            lines += [
                "",
                "Not judged (too few rows): " + ", ".join(f"{g} ({n})" for g, n in small.items()),
            ]
    lines += [""] + [f"- Skipped {a}: {why}" for a, why in report.get("skipped", {}).items()]
    lines += [f"- {reason}" for reason in report["reasons"]]
    if exception:
        lines += [
            "",
            f"**Exception granted** by {exception['by']} on {exception['at'][:10]}: "
            f"{exception['reason']}",
        ]
    return lines


_GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "calibration")


def _estimate_section(error: dict[str, Any]) -> list[str]:
    """How far monitoring's label-free estimate was from the truth on held-out windows."""
    if not error:
        return []
    level = error.get("level", 0.95)
    lines = [
        "",
        "## Performance estimated before labels arrive",
        "",
        "Monitoring estimates each window's ROC AUC, accuracy and F1 from its scores alone "
        f"(CBPE), with the range the realized figure should fall in ({level:.0%}), "
        f"calibrated on {error['rows']:,} {error.get('source', 'held-out labelled rows')}. "
        f"Checked the same way on {error['windows']} consecutive windows of about "
        f"{error['window_rows']:,} of those rows, each estimated with a calibration fitted "
        "on the others, against what its labels gave. Beyond chance means how far the "
        "realized figures strayed (standard deviation) beyond what the window's size and "
        "the calibration's own uncertainty explain: periods differ in what follows from a "
        "score, which no label-free estimate can see, so every range is widened by it.",
        "",
        "| metric | mean absolute error | mean signed error | beyond chance | "
        "realized inside the range |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for metric in ("roc_auc", "accuracy", "f1"):
        found = error.get(metric)
        if found:
            lines.append(
                f"| {metric} | {found['mae']:.4f} | {found['bias']:+.4f} | "
                f"{found.get('spread', 0.0):.4f} | {found['coverage']:.0%} |"
            )
    lines += [
        "",
        "The estimate holds while the inputs move and their relation to the outcome does "
        "not; a changed relation (concept drift) is what only labels show.",
    ]
    return lines


def card_html(markdown: str) -> str:
    """The card as one self-contained HTML page (the front matter shown as a block)."""
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
        ".align-right{text-align:right}.align-center{text-align:center}"
        "pre{background:#f6f6f6;padding:1rem;overflow:auto}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Model card</title>"
        f"<style>{style}</style></head><body>{card_fragment(markdown)}</body></html>"
    )


def card_fragment(markdown: str) -> str:
    """The card's HTML body alone, for a page of someone else's (the console's)."""
    _, front, body = markdown.split("---", 2) if markdown.startswith("---") else ("", "", markdown)
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(body)
    for token in tokens:  # aligned cells as classes: a strict policy forbids inline styles
        if align := str(token.attrs.pop("style", "")).removeprefix("text-align:"):
            token.attrSet("class", f"align-{align}")
    html = parser.renderer.render(tokens, parser.options, {})
    return (
        f"{html}<details><summary>Machine-readable summary</summary>"
        f"<pre>{escape(front.strip())}</pre></details>"
    )


def write_card(info: ModelVersionInfo, tracking_uri: str, folder: Path) -> tuple[Path, Path]:
    """Write `model_card.md` and `model_card.html` for `info` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    markdown = build_card(info, tracking_uri)
    md, html = folder / "model_card.md", folder / "model_card.html"
    md.write_text(markdown)
    html.write_text(card_html(markdown))
    return md, html


def run_evaluation(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """The `evaluation.json` a prodml training logged in run `run_id` ({} if none)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "evaluation.json", tmp)
        except Exception:  # a run logged by other tools has none: the card is shorter
            return {}
        return json.loads(Path(path).read_text())
