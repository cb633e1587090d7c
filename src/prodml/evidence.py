"""`prodml models evidence REF -o DIR`: the technical documentation a provider of a
high-risk system is asked for (EU AI Act, Annex IV points 1, 2(a)-(g), 3, 4, 6 and 9, as
far as software can know them), written from what prodml already holds: the registry,
lineage, evaluation, fairness, monitoring and the audit log. Nothing is typed by hand;
each section says where its evidence came from, and the index at the end lists it all.
What software cannot know (the provider, the market, hardware) is named as a gap.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from prodml import __version__
from prodml.data import Contract
from prodml.govern.roles import APPROVE, OPERATE, OVERRIDE, roles_with
from prodml.registry.card import card_html, run_evaluation, write_card
from prodml.registry.registry import EXCEPTION_TAG, FAIRNESS_TAG, ModelVersionInfo
from prodml.workspace import Workspace

RECENT = 50  # audit events and alerts listed in full; older ones are counted


@dataclass
class Section:
    """One Annex IV point: its text (Markdown lines) and where each fact came from."""

    point: str
    title: str
    lines: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def build_evidence(ws: Workspace, ref: str) -> list[Section]:
    """The sections of the evidence pack of the version `ref` names."""
    info = ws.registry.resolve(ref)
    client = MlflowClient(ws.tracking_uri)
    run = client.get_run(info.run_id) if info.run_id else None
    evaluation = run_evaluation(client, info.run_id) if info.run_id else {}
    tags = dict(info.tags)
    card = json.loads(tags.get("prodml.card", "{}"))
    gate = json.loads(tags.get("prodml.gate", "{}"))
    version_tags = f"MLflow model version {info.ref} (tags)"
    run_source = f"MLflow run {info.run_id} (parameters, metrics, evaluation.json)"
    events = [e for e in ws.audit.events() if _about(e.target, info.name)]
    return [
        _general(ws, info, card, run, version_tags),
        Section(
            "2(a)",
            "Methods and steps of development",
            [
                f"Trained by prodml {__version__} as a {info.tags.get('prodml.flavor', '?')} "
                f"model; the split: {card.get('split', 'not recorded')}.",
                "Judged on the same validation rows against the baselines "
                + ", ".join(
                    c["against"] for c in gate.get("comparisons", []) if c["role"] == "baseline"
                )
                + " (the simplest models that could do the job), and the champion then live.",
                f"Parameters: `{json.dumps(evaluation.get('params', {}), default=str)}`.",
            ],
            [run_source, version_tags],
        ),
        _design(card, evaluation, gate, run_source),
        Section(
            "2(c)",
            "System architecture",
            [
                "Served by `prodml serve` (FastAPI; `/v1/predict` with conformal sets, "
                "`/v1/explain` and `?explain=top:N` reason codes, `/v1/override`), in batch by "
                "`prodml score` and from a stream by `prodml stream`; every answer is logged "
                "to the prediction log, which monitoring reads.",
                f"Model files `{info.source}`, each checked against its SHA-256 manifest "
                "before loading.",
                "Installed packages hash: "
                f"`{run.data.tags.get('prodml.environment', 'unknown') if run else 'unknown'}`.",
            ],
            [version_tags, "MLflow run tags (prodml.environment)"],
        ),
        _data(ws, info),
        _oversight(ws, info),
        _changes_planned(ws),
        _validation(info.ref, gate, evaluation, tags, events, version_tags, run_source),
        _functioning(ws, info, card, evaluation, tags),
        Section(
            "4",
            "Appropriateness of the performance metrics",
            [
                f"The gate judges `{gate.get('metric', '?')}` by paired bootstrap against "
                "every baseline (the candidate must be better with confidence) and the "
                f"champion (non-inferior within {gate.get('margin', '?')}); fairness by "
                "demographic-parity ratio and equalized-odds difference per sensitive group "
                f"(thresholds {ws.settings.governance.fairness.model_dump()}).",
                f"Uncertainty: conformal sets or intervals at coverage "
                f"{ws.settings.serving.coverage} on every answer.",
            ],
            [version_tags, "prodml.yaml (serving, governance.fairness)"],
        ),
        _lifecycle(ws, info, events),
        _monitoring_plan(ws, info),
    ]


def write_evidence(ws: Workspace, ref: str, folder: Path) -> tuple[Path, Path]:
    """Write `evidence.md` and `evidence.html` (and the model card beside them) into
    `folder`; the paths of the two."""
    info = ws.registry.resolve(ref)
    sections = build_evidence(ws, ref)
    lines = [
        f"# Technical documentation: {info.name}, version {info.version}",
        "",
        f"Written by prodml {__version__} on {ws.clock.now():%Y-%m-%d %H:%M %Z} from the "
        "workspace's own records (EU AI Act, Annex IV). Points 5, 7 and 8 (the risk "
        "management system, the standards applied, the EU declaration of conformity) and "
        "what the provider alone knows are not here.",
        "",
    ]
    for section in sections:
        lines += [f"## {section.point}. {section.title}", "", *section.lines, ""]
        lines += [f"_Source: {'; '.join(section.sources)}._", ""]
    lines += ["## Index of evidence", "", "| point | comes from |", "| --- | --- |"]
    lines += [f"| {s.point} | {'<br>'.join(s.sources)} |" for s in sections]
    folder.mkdir(parents=True, exist_ok=True)
    write_card(info, ws.tracking_uri, folder)
    markdown = "\n".join(lines) + "\n"
    md, html = folder / "evidence.md", folder / "evidence.html"
    md.write_text(markdown)
    html.write_text(
        card_html(markdown).replace("<title>Model card</title>", "<title>Evidence</title>")
    )
    return md, html


def _general(
    ws: Workspace, info: ModelVersionInfo, card: dict[str, Any], run: Any, source: str
) -> Section:
    deployments = [d for d in ws.metadata.list_deployments() if d.policy.get("model") == info.name]
    served = [
        f"`{d.deployment}` ({d.policy.get('kind')}: "
        + ", ".join(f"{a['name']} v{a['version']}" for a in d.policy.get("arms", []))
        + ")"
        for d in deployments
    ]
    return Section(
        "1",
        "General description",
        [
            f"- Intended purpose: {card.get('intended_use') or '_not stated when trained_'}",
            f"- A {card.get('task', '?')} model, version {info.version} of `{info.name}`, "
            f"registered {info.created_at[:10]}; aliases: "
            f"{', '.join('@' + a for a in info.aliases) or 'none'}.",
            f"- Deployments: {', '.join(served) or 'none'}.",
            f"- Software: prodml {__version__}; git commit "
            f"`{run.data.tags.get('mlflow.source.git.commit', 'unknown') if run else 'unknown'}`.",
            "- The provider, the forms it is placed on the market in, and the hardware it runs "
            "on are not known to prodml.",
        ],
        [source, "metadata table deployments", "MLflow run tags"],
    )


def _design(
    card: dict[str, Any], evaluation: dict[str, Any], gate: dict[str, Any], source: str
) -> Section:
    features = evaluation.get("features", {})
    threshold = evaluation.get("best_threshold") or {}
    return Section(
        "2(b)",
        "Design choices",
        [
            f"- Inputs: categorical {', '.join(features.get('categorical', [])) or 'none'}; "
            f"numeric {', '.join(features.get('numeric', [])) or 'none'}.",
            f"- Optimised for `{card.get('gate_metric') or gate.get('metric', '?')}`; costs "
            f"{card.get('costs', 'not declared')}; cost-minimising threshold "
            f"{threshold.get('threshold', 'not computed')}.",
            f"- Calibration: {_calibration(evaluation.get('calibration_decision'))}.",
        ],
        [source],
    )


def _calibration(decision: dict[str, Any] | None) -> str:
    if not decision:
        return "not recorded"
    method = decision["method"] or "none applied"
    return (
        f"{method} (Brier score {decision['brier_raw']:.4f} raw, "
        f"{decision['brier_calibrated_held_out']:.4f} calibrated on held-out rows)"
    )


def _data(ws: Workspace, info: ModelVersionInfo) -> Section:
    lines, sources = [], []
    for tag, snapshot_id in sorted(info.tags.items()):
        if not tag.startswith("prodml.snapshot."):
            continue
        snap = ws.metadata.find_snapshot(snapshot_id)
        if snap is None:
            lines.append(f"- `{tag[16:]}`: snapshot {snapshot_id[:12]}, no longer recorded.")
            continue
        ingestions = ws.metadata.list_ingestions(snap.id)
        rejected = sum(i.rejected for i in ingestions)
        reasons: Counter[str] = Counter()
        for ingestion in ingestions:  # each failed check of the validation, with its count
            for found in ingestion.report.get("violations", []):
                if found["count"]:
                    reasons[found["message"]] += found["count"]
        lines.append(
            f"- `{tag[16:]}`: snapshot `{snap.id[:12]}` of `{snap.source}`, {snap.num_rows:,} "
            f"rows x {snap.num_columns} columns, kept {snap.created_at:%Y-%m-%d}; contract "
            f"version `{snap.contract_version}`; {rejected:,} rows quarantined in "
            f"{len(ingestions)} ingestion(s)"
            + (f" ({dict(reasons.most_common(5))})" if reasons else "")
            + "."
        )
        sources.append(f"metadata tables snapshots and ingestions ({snap.id[:12]})")
    return Section(
        "2(d)",
        "Data: training sets, provenance, preparation",
        lines or ["_No snapshot is recorded in the version's lineage._"],
        sources or [f"MLflow model version {info.ref} (tags prodml.snapshot.*)"],
    )


def _oversight(ws: Workspace, info: ModelVersionInfo) -> Section:
    auth = ws.settings.governance.auth
    tokens = [
        t
        for t in ws.metadata.list_tokens()
        if t.revoked_at is None and (t.model is None or t.model == info.name)
    ]
    overrides = ws.metadata.list_overrides(info.name)
    return Section(
        "2(e)",
        "Human oversight (Art. 14)",
        [
            f"- Roles are {'enforced' if auth else '**not** enforced (governance.auth off)'}: "
            f"promoting or rolling back needs {', '.join(roles_with(APPROVE))}; the kill "
            f"switch (`prodml deploy stop`) needs {', '.join(roles_with(OPERATE))}; replacing a "
            f"decision (`POST /v1/override`) needs {', '.join(roles_with(OVERRIDE))}.",
            f"- Live tokens that may act on it: {len(tokens)} "
            f"({dict(Counter(t.role for t in tokens))}).",
            f"- Decisions replaced by a person: {len(overrides)}.",
        ],
        ["prodml.yaml (governance)", "metadata tables tokens and overrides"],
    )


def _changes_planned(ws: Workspace) -> Section:
    rollouts = ws.settings.rollouts
    restore = ws.settings.governance.restore_aliases
    return Section(
        "2(f)",
        "Changes determined in advance",
        [
            "- A new version takes traffic through a canary judged every "
            f"{rollouts.interval_seconds:g} s: rolled back on errors above "
            f"{rollouts.max_error_rate}, a score shift above {rollouts.max_score_shift}, or "
            f"realized ROC AUC more than {rollouts.max_realized_drop} below the stable's.",
            "- Aliases moved outside prodml are "
            f"{'moved back' if restore else 'recorded and reported'} (`prodml audit verify`).",
        ],
        ["prodml.yaml (rollouts, governance)"],
    )


def _validation(
    info_ref: str,
    gate: dict[str, Any],
    evaluation: dict[str, Any],
    tags: dict[str, str],
    events: list[Any],
    version_tags: str,
    run_source: str,
) -> Section:
    lines = [
        f"The gate decided on {gate.get('decided_at', '?')[:19]}: "
        f"{'passed' if gate.get('passed') else 'did not pass'}.",
        "",
    ]
    lines += [
        f"- against {c['against']} ({c['role']}): improvement {c['improvement']:+.4f}, "
        f"interval [{c['low']:+.4f}, {c['high']:+.4f}]"
        for c in gate.get("comparisons", [])
    ]
    lines += [f"- {reason}" for reason in gate.get("reasons", [])]
    metrics = evaluation.get("metrics", {})
    if metrics:
        lines += [
            "",
            "Validation metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())),
        ]
    fairness = json.loads(tags.get(FAIRNESS_TAG, "{}"))
    for name, figures in fairness.get("attributes", {}).items():
        ratio = figures["demographic_parity_ratio"]
        odds = figures["equalized_odds_difference"]
        lines.append(
            f"- Fairness by {name}: parity ratio {ratio['value']:.3f} {_pair(ratio['interval'])}, "
            f"equalized-odds difference {odds['value']:.3f} {_pair(odds['interval'])}."
        )
    if EXCEPTION_TAG in tags:
        granted = json.loads(tags[EXCEPTION_TAG])
        lines.append(f"- Fairness exception granted by {granted['by']}: {granted['reason']}")
    registered = next(
        (e for e in events if e.action == "model.register" and e.target == info_ref), None
    )
    if registered is not None:
        lines.append(
            f"- Signed and dated: audit event #{registered.seq} ({registered.at:%Y-%m-%d %H:%M}, "
            f"by {registered.actor}), hash `{registered.hash[:16]}`."
        )
    return Section(
        "2(g)",
        "Validation and testing",
        lines,
        [version_tags + " prodml.gate, prodml.fairness", run_source, "audit log"],
    )


def _functioning(
    ws: Workspace,
    info: ModelVersionInfo,
    card: dict[str, Any],
    evaluation: dict[str, Any],
    tags: dict[str, str],
) -> Section:
    lines = ["Known limitations:", ""]
    lines += [f"- {item}" for item in card.get("limitations", [])] or ["- _None recorded._"]
    slices = [s for s in evaluation.get("slices", []) if not s.get("skipped")]
    if slices:
        lines += ["", "Accuracy per slice of the validation rows:", ""]
        lines += [
            f"- {s['column']} = {s['value']}: {s['estimate']:.3f} [{s['low']:.3f}, "
            f"{s['high']:.3f}] ({s['rows']:,} rows)"
            for s in slices
        ]
    sources = [f"MLflow model version {info.ref}", "MLflow run evaluation.json"]
    contract = _contract(ws, info)
    if contract is not None:
        lines += ["", f"Input data specification (contract `{contract.name}`):", ""]
        for name, column in contract.columns.items():
            bounds = (
                ""
                if column.min is None and column.max is None
                else f" in [{column.min}, {column.max}]"
            )
            allowed = f" one of {column.allowed}" if column.allowed else ""
            pii = f" (personal data: {column.pii})" if column.pii else ""
            nulls = "" if column.nullable else ", required"
            lines.append(f"- `{name}`: {column.type}{bounds}{allowed}{nulls}{pii}")
        sources.append(f"{contract.name}.contract.yaml")
    return Section("3", "Monitoring, functioning and control", lines, sources)


def _lifecycle(ws: Workspace, info: ModelVersionInfo, events: list[Any]) -> Section:
    verdict = ws.audit.verify()
    lines = [f"{verdict.sentence()}", ""]
    lines += [
        f"- #{e.seq} {e.at:%Y-%m-%d %H:%M} {e.actor}: {e.action} {e.target}"
        + (f" ({e.reason})" if e.reason else "")
        for e in events[-RECENT:]
    ]
    if len(events) > RECENT:
        lines.append(f"- … and {len(events) - RECENT} earlier events (`prodml audit log`).")
    for change in ws.metadata.list_deployments():
        if change.policy.get("model") == info.name:
            history = ws.metadata.deployment_history(change.deployment)
            counts = Counter(c.action for c in history)
            lines.append(f"- Deployment `{change.deployment}`: {dict(counts)}.")
    return Section(
        "6",
        "Changes through the lifecycle",
        lines,
        ["audit log (hash-chained, verified now)", "metadata table deployment_events"],
    )


def _monitoring_plan(ws: Workspace, info: ModelVersionInfo) -> Section:
    monitoring = ws.settings.monitoring
    findings = ws.metadata.list_findings(model_name=info.name)
    windows = {(f.window_start, f.window_end) for f in findings if f.model_version == info.version}
    alerts = ws.metadata.list_alerts(model_name=info.name)
    lines = [
        f"`prodml monitor run` windows traffic by `{monitoring.rows or monitoring.freq}`; "
        f"sensitive attributes tracked: {', '.join(monitoring.sensitive) or 'none'}.",
        "",
        "Alert rules:",
        "",
    ]
    lines += [
        f"- {r.name}: {r.monitor}/{r.metric} "
        + (f"above {r.above}" if r.above is not None else f"below {r.below}")
        for r in monitoring.rules
    ]
    lines += ["", f"Windows judged for this version so far: {len(windows)}; alerts:", ""]
    lines += [
        f"- {a.rule} on {a.subject}: {a.status} since {a.first_window_end:%Y-%m-%d}"
        for a in alerts[:RECENT]
    ] or ["- none"]
    return Section(
        "9",
        "Post-market monitoring plan",
        lines,
        ["prodml.yaml (monitoring)", "metadata tables findings and alerts"],
    )


def _contract(ws: Workspace, info: ModelVersionInfo) -> Contract | None:
    for tag, snapshot_id in info.tags.items():
        if tag.startswith("prodml.snapshot."):
            snap = ws.metadata.find_snapshot(snapshot_id)
            name = (snap.lineage.get("contract") if snap else None) or tag[16:]
            path = ws.project_dir / f"{name}.contract.yaml"
            if path.exists():
                return Contract.load(path)
    return None


def _about(target: str, name: str) -> bool:
    return target == name or target.startswith((f"{name}/", f"{name}@"))


def _pair(interval: list[float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"
