"""Governance speed: what the token check costs a server, how fast the audit chain is
verified, and what reason codes (the top contributions) add to a prediction.

1. Auth (the serving benchmark's model, 500 trees, 20 features; server alone on core 0,
   wrk on core 1): closed-loop saturation throughput (32 connections) of the same model
   served with governance.auth on (every request carries `Authorization: Bearer` with a
   real token of role `client`, made with the Tokens API; the server checks it with the
   workspace's `Guard`, as `prodml serve` does) and off. Rounds alternate on and off;
   each figure is the median of `--rounds` rounds of `--seconds`. Also the server's
   whole token check of one request timed in-process (a token seen before), and the
   share of a request's time at saturation that it stands for.
2. Audit: 1,000,000 chained, HMAC-sealed events written straight into a fresh SQLite
   workspace's metadata database (sealed in Python with `govern.audit.seal`, inserted in
   big batches), anchored every 100 events as `AuditLog.record` anchors them; then the
   seconds of `AuditLog.verify()`, the check `prodml audit verify` runs, against 10 s,
   and of the whole command in a process of its own. The verify on PostgreSQL too
   (127.0.0.1:5432, or TEST_POSTGRES_URL), in a fresh schema dropped afterwards; skipped
   without one.
3. Reason codes: one client (wrk, 1 connection) posting one row to `POST /v1/predict`
   and to `POST /v1/predict?explain=top:3` (exact TreeSHAP, the top 3 contributions),
   alternating rounds; the p50 the explanation adds, against 0.3 ms. If the server does
   not answer that query with explanations, `POST /v1/explain` is measured instead (and
   `explain_route_fallback` is 1). Also `Predictor.explain(rows, top=3)` of one row,
   in-process: the p50 of a few thousand calls.

    python benchmarks/governance.py [--seconds 10] [--rounds 3] [--skip-load]
                                    [--skip-audit] [--skip-explain]

Needs wrk (Debian: apt-get install wrk). The last line printed is one JSON object of
every figure (ratios end in `_ratio`, greater is better for prodml).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from _load import serving, wrk
from _postgres import fresh_schema
from _serving_data import FEATURES, rows, train

HERE = Path(__file__).resolve().parent
AUDIT_EVENTS = 1_000_000
AUDIT_TARGET_S = 10.0
EXPLAIN_BUDGET_MS = 0.3
EXPLAIN_QUERY = "/v1/predict?explain=top:3"
AUDIT_KEY = "bench-audit-key"  # governance.audit_key: the chain is HMAC-sealed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load measurement")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds (medians)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--skip-explain", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prodml-governance-"))
    figures: dict[str, float] = {}
    if not (args.skip_load and args.skip_explain):
        if shutil.which("wrk") is None:
            raise SystemExit("wrk is needed for the load: apt-get install wrk")
        folder, body = _model(work)
        project, token = _project(work)
        if not args.skip_load:
            figures |= _auth_load(work, folder, project, body, token, args.seconds, args.rounds)
        if not args.skip_explain:
            figures |= _explain(work, folder, project, body, args.seconds, args.rounds)
    if not args.skip_audit:
        figures |= _audit(work)
    shutil.rmtree(work, ignore_errors=True)  # the servers' prediction logs: hundreds of MB
    _table(figures)
    print(json.dumps({k: round(v, 6) for k, v in figures.items()}))


def _model(work: Path) -> tuple[Path, dict[str, Any]]:
    """The serving benchmark's model saved as prodml saves one, and a one-row request."""
    import lightgbm as lgb

    from prodml.train.encoding import FeatureSpec, TabularEncoder
    from prodml.train.model import TrainedModel

    model_file = train(work)
    folder = work / "model"
    encoder = TabularEncoder(FeatureSpec((), tuple(FEATURES)))
    TrainedModel("lightgbm", encoder, lgb.Booster(model_file=str(model_file))).save(folder)
    row = rows(1, seed=3)[0]
    values = zip(FEATURES, row, strict=True)
    return folder, {"rows": [{f: (None if np.isnan(v) else float(v)) for f, v in values}]}


def _project(work: Path) -> tuple[Path, str]:
    """A workspace with governance.auth on and a live token of role `client`."""
    from prodml.workspace import Workspace

    project = work / "project"
    project.mkdir()
    (project / "prodml.yaml").write_text("governance:\n  auth: true\n")
    with Workspace.open(project) as ws:
        _, token = ws.tokens.create("client", name="bench", actor="bench")
    return project, token


def _server(folder: Path, project: Path, auth: str, body: dict, token: str) -> dict:
    return {
        "command": [
            sys.executable,
            str(HERE / "_governance_prodml.py"),
            str(folder),
            str(project),
            "{port}",
            auth,
        ],
        "path": "/v1/predict",
        "body": body,
        "headers": {"Authorization": f"Bearer {token}"} if auth == "on" else {},
    }


def _auth_load(
    work: Path, folder: Path, project: Path, body: dict, token: str, seconds: float, rounds: int
) -> dict[str, float]:
    runs: dict[str, list[float]] = {"on": [], "off": []}
    errors = 0
    # Rounds alternate auth on and off (and which goes first), so a slow spell of the
    # machine hits both alike; each figure is the median of its rounds.
    for i in range(rounds):
        for auth in ("on", "off") if i % 2 == 0 else ("off", "on"):
            server = _server(folder, project, auth, body, token)
            with serving(f"auth-{auth}", server, work) as (port, lua, _):
                wrk(lua, port, "/v1/predict", connections=4, seconds=2)  # warm-up
                saturation = wrk(lua, port, "/v1/predict", connections=32, seconds=seconds)
            runs[auth].append(saturation["rps"])
            errors += saturation["errors"]
            print(f"… round {i + 1}, auth {auth}: {saturation['rps']:,.0f} req/s", file=sys.stderr)
    if errors:
        raise SystemExit(f"{errors} requests under load were not answered 200")
    on, off = float(np.median(runs["on"])), float(np.median(runs["off"]))
    check = _auth_check_us(folder, project, token)
    return {
        "throughput_auth_rps": on,
        "throughput_no_auth_rps": off,
        "throughput_auth_vs_no_auth_ratio": on / off,
        "auth_check_us": check,
        # The share of a request's time at saturation (without auth) the check would add.
        "auth_check_share": check * 1e-6 * off,
    }


def _auth_check_us(folder: Path, project: Path, token: str) -> float:
    """The p50 microseconds of the server's whole token check of one request (what its
    fast lane runs before reading the body), in this process, on a token seen before."""
    from prodml.clock import SystemClock
    from prodml.registry import ModelVersionInfo
    from prodml.serve import PredictionLog, Predictor, create_app
    from prodml.train.model import TrainedModel
    from prodml.workspace import Workspace

    with Workspace.open(project) as ws:
        info = ModelVersionInfo("bench", "1", "run", str(folder), ())
        predictor = Predictor(TrainedModel.load(folder), info)
        app = create_app(
            predictor, PredictionLog(project / "log-check"), SystemClock(), guard=ws.guard
        )
        admit = app.fast_lane.admit
        scope = {  # the request wrk sends
            "type": "http",
            "method": "POST",
            "path": "/v1/predict",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-length", b"400"),
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {token}".encode()),
            ],
            "client": ("127.0.0.1", 50000),
        }
        for _ in range(1000):
            admit(scope)
        times = []
        for _ in range(20_000):
            started = time.perf_counter_ns()
            admit(scope)
            times.append(time.perf_counter_ns() - started)
    return float(np.median(times)) / 1e3


def _explain(
    work: Path, folder: Path, project: Path, body: dict, seconds: float, rounds: int
) -> dict[str, float]:
    server = _server(folder, project, "off", body, "")  # as served without auth
    runs: dict[str, list[float]] = {"plain": [], "explained": []}
    with serving("explain", server, work) as (port, lua, _):
        route = _explain_route(port, body)
        for _ in range(rounds):  # one client, the two requests alternating
            for kind, path in (("plain", "/v1/predict"), ("explained", route)):
                wrk(lua, port, path, connections=1, seconds=2)  # warm-up
                one = wrk(lua, port, path, connections=1, seconds=seconds)
                if one["errors"]:
                    raise SystemExit(f"{one['errors']} requests to {path} were not answered 200")
                runs[kind].append(one["p50_ms"])
                print(f"… {path}: one client p50 {one['p50_ms']:.3f} ms", file=sys.stderr)
    plain, explained = float(np.median(runs["plain"])), float(np.median(runs["explained"]))
    added = explained - plain
    return {
        "p50_ms": plain,
        "p50_explain_top3_ms": explained,
        "explain_added_ms": added,
        "explain_budget_ms": EXPLAIN_BUDGET_MS,
        "explain_vs_budget_ratio": EXPLAIN_BUDGET_MS / max(added, 1e-3),
        "explain_route_fallback": float(route != EXPLAIN_QUERY),
        "explain_inprocess_ms": _explain_inprocess(folder, body),
    }


def _explain_route(port: int, body: dict) -> str:
    """`EXPLAIN_QUERY` if the server answers it with three contributions a row, else
    `/v1/explain` (the route that explains every request; a server without the query
    parameter would answer the query unexplained)."""
    answer = httpx.post(f"http://127.0.0.1:{port}{EXPLAIN_QUERY}", json=body, timeout=10)
    if answer.status_code == 200:
        (prediction,) = answer.json()["predictions"]
        if len(prediction.get("contributions", ())) == 3:
            return EXPLAIN_QUERY
    print(
        f"… {EXPLAIN_QUERY} answered {answer.status_code} without 3 contributions: "
        "measuring POST /v1/explain instead",
        file=sys.stderr,
    )
    return "/v1/explain"


def _explain_inprocess(folder: Path, body: dict) -> float:
    """The p50 ms of `Predictor.explain` of one row, top 3, in this process."""
    from prodml.registry import ModelVersionInfo
    from prodml.serve import Predictor
    from prodml.train.model import TrainedModel

    predictor = Predictor(TrainedModel.load(folder), ModelVersionInfo("b", "1", "r", "s", ()))
    request = body["rows"]
    for _ in range(300):
        predictor.explain(request, top=3)
    times = []
    for _ in range(3000):
        started = time.perf_counter_ns()
        predictor.explain(request, top=3)
        times.append(time.perf_counter_ns() - started)
    return float(np.median(times)) / 1e6


def _audit(work: Path) -> dict[str, float]:
    """Seconds of `AuditLog.verify` over AUDIT_EVENTS events, on SQLite and PostgreSQL."""
    project = work / "audit"
    project.mkdir()
    (project / "prodml.yaml").write_text(f"governance:\n  audit_key: {AUDIT_KEY}\n")
    out = {"audit_events": float(AUDIT_EVENTS)}
    out["audit_fill_seconds"], out["audit_verify_seconds"] = _fill_and_verify(project)
    out["audit_verify_vs_target_ratio"] = AUDIT_TARGET_S / out["audit_verify_seconds"]
    # The command itself, start to end (imports, opening the workspace, and what else it
    # checks included).
    started = time.perf_counter()
    command = subprocess.run(
        [sys.executable, "-m", "prodml", "audit", "verify", "-C", str(project)],
        capture_output=True,
        text=True,
    )
    if command.returncode == 0:
        out["audit_verify_cli_seconds"] = time.perf_counter() - started
    else:
        print(f"… prodml audit verify failed:\n{command.stdout}{command.stderr}", file=sys.stderr)
    shutil.rmtree(project)  # a third of a gigabyte
    out |= _audit_postgres(work)
    return out


def _audit_postgres(work: Path) -> dict[str, float]:
    with fresh_schema("audit on PostgreSQL") as url:
        if url is None:
            return {}
        project = work / "audit-postgres"
        project.mkdir()
        (project / "prodml.yaml").write_text(
            f"metadata_url: {url}\ngovernance:\n  audit_key: {AUDIT_KEY}\n"
        )
        fill, verify = _fill_and_verify(project)
    return {
        "audit_fill_postgres_seconds": fill,
        "audit_verify_postgres_seconds": verify,
        "audit_verify_postgres_vs_target_ratio": AUDIT_TARGET_S / verify,
    }


def _fill_and_verify(project: Path) -> tuple[float, float]:
    """Fill `project`'s metadata database with AUDIT_EVENTS events and anchors; the
    seconds that took and the seconds `AuditLog.verify` then takes."""
    from prodml.workspace import Workspace

    with Workspace.open(project) as ws:
        started = time.perf_counter()
        _fill(ws.metadata.url, ws.audit.anchors, ws.audit.key)
        fill = time.perf_counter() - started
        started = time.perf_counter()
        verdict = ws.audit.verify()
        verify = time.perf_counter() - started
    if not (verdict.ok and verdict.events == AUDIT_EVENTS):
        raise SystemExit(f"the benchmark's chain did not verify: {verdict}")
    return fill, verify


# What the events say, in turn: an action, its target, a reason and figures, each made
# different per event by its number (`i`).
_EVENTS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    (
        "token.create",
        "token/{i:012x}",
        "a client token for checkout",
        {"role": "client", "model": None, "expires_at": "2026-03-01T00:00:00+00:00"},
    ),
    (
        "model.register",
        "model/churn/{i}",
        "AUC up on the holdout",
        {"auc": 0.8123, "run": "{i:032x}", "version": "{i}"},
    ),
    (
        "auth.denied",
        "model/churn",
        "role client may not approve",
        {"permission": "approve", "where": "POST /v1/override", "client": "10.0.{i}"},
    ),
    ("deploy.canary", "deployment/api", "", {"steps": [0.1, 0.5, 1.0], "candidate": "{i}"}),
    (
        "decision.override",
        "model/churn/request/{i:x}/0",
        "the customer called",
        {"decision": 1.0, "model_decision": 0.0, "version": "{i}"},
    ),
)


def _fill(url: str, anchors: Path, key: bytes | None, batch: int = 20_000) -> None:
    """AUDIT_EVENTS events chained and sealed as `AuditLog.record` seals them, inserted
    `batch` at a time; an anchor every ANCHOR_EVERY events."""
    from sqlalchemy import create_engine, insert

    from prodml.govern.audit import ANCHOR_EVERY, seal
    from prodml.store import AuditEvent
    from prodml.store.metadata import AUDIT_GENESIS
    from prodml.store.models import AuditEventRow

    engine = create_engine(url)
    table = AuditEventRow.__table__
    # A month of events ending now: within retention, so the command verifies them all.
    start = datetime.now(UTC) - timedelta(days=30)
    prev, pending, lines = AUDIT_GENESIS, [], []
    for seq in range(1, AUDIT_EVENTS + 1):
        action, target, reason, figures = _EVENTS[seq % len(_EVENTS)]
        event = AuditEvent(
            f"user{seq % 37} (token {seq % 1013:012x})",
            action,
            target.format(i=seq),
            start + timedelta(seconds=seq * 2.5),
            reason,
            {k: (v.format(i=seq) if isinstance(v, str) else v) for k, v in figures.items()},
            seq,
            prev,
        )
        prev = seal(event, key)
        pending.append({**event.__dict__, "hash": prev})
        if seq % ANCHOR_EVERY == 0:
            lines.append(orjson.dumps({"seq": seq, "hash": prev, "at": event.at}))
        if len(pending) == batch or seq == AUDIT_EVENTS:
            with engine.begin() as conn:
                conn.execute(insert(table), pending)
            pending = []
    engine.dispose()
    anchors.parent.mkdir(parents=True, exist_ok=True)
    anchors.write_bytes(b"\n".join(lines) + b"\n")


def _table(f: dict[str, float]) -> None:
    print("\nGovernance                                       figure        target")
    lines = [
        ("saturation, auth on (Bearer token), req/s", "throughput_auth_rps", ""),
        ("saturation, auth off, req/s", "throughput_no_auth_rps", ""),
        ("  auth on / off", "throughput_auth_vs_no_auth_ratio", ">= 0.95"),
        ("  the token check of one request, in-process, us", "auth_check_us", ""),
        ("  its share of a request's time at saturation", "auth_check_share", ""),
        ("audit events", "audit_events", ""),
        ("  written (sealed, inserted), s", "audit_fill_seconds", ""),
        ("  AuditLog.verify, SQLite, s", "audit_verify_seconds", "< 10"),
        ("  prodml audit verify, the whole command, SQLite, s", "audit_verify_cli_seconds", ""),
        ("  written on PostgreSQL, s", "audit_fill_postgres_seconds", ""),
        ("  AuditLog.verify, PostgreSQL, s", "audit_verify_postgres_seconds", "< 10"),
        ("one client p50, /v1/predict, ms", "p50_ms", ""),
        ("one client p50, explained top 3, ms", "p50_explain_top3_ms", ""),
        ("  added by the explanation, ms", "explain_added_ms", "<= 0.3"),
        ("  /v1/explain measured instead (1 = yes)", "explain_route_fallback", ""),
        ("Predictor.explain of one row, top 3, p50 ms", "explain_inprocess_ms", ""),
    ]
    for label, key, target in lines:
        if key in f:
            print(f"{label:50}{f[key]:>12,.3f}  {target}")


if __name__ == "__main__":
    main()
