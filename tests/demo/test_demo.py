"""The whole path on the real flights, checked from the outside (MLflow's own client, files)."""

import io
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from rich.console import Console

from prodml.demo.render import render_replay, render_report
from prodml.demo.replay import ReplayPlan
from prodml.demo.run import run_demo
from prodml.monitor.compare import STATISTICS


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from prodml.workspace import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("demo"))
    report = run_demo(ws, Console(file=io.StringIO()), requests=40)
    yield ws, report
    ws.close()


@pytest.mark.slow
def test_lightgbm_beats_both_baselines_on_real_data(demo):
    _, report = demo
    auc = {name: m["roc_auc"] for name, m in report.models.items()}
    assert auc["majority"] == 0.5
    assert auc["lightgbm"] > auc["logistic"] > 0.6
    assert report.champion == "lightgbm"
    assert report.rows["flights quarantined"] > 0  # cancelled flights have no label


# June validation ROC AUC of the demo's champion: 0.7579 on the two thirds of June left once
# a seeded third is held back for the label-free estimate (issue 16; 0.7558 on all of June
# since `month` left its inputs, 0.7552 with it when issue 15 closed; 0.7230 before its
# served model was refitted on every training row). A change that costs more than 0.005
# of it must be found, not shipped.
CHAMPION_JUNE_AUC = 0.7579


@pytest.mark.slow
def test_the_champion_keeps_its_recorded_validation_auc(demo):
    _, report = demo
    assert report.models["lightgbm"]["roc_auc"] >= CHAMPION_JUNE_AUC - 0.005


@pytest.mark.slow
def test_mlflow_reads_the_runs_the_model_and_its_champion_alias(demo):
    ws, report = demo
    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri)
    for flavor in ("majority", "logistic", "lightgbm"):
        run = client.get_run(report.run_ids[flavor])
        assert run.data.tags["mlflow.parentRunId"] == report.run_ids["pipeline"]
        assert run.data.metrics["roc_auc"] == pytest.approx(report.models[flavor]["roc_auc"])
        assert run.data.tags["prodml.snapshot.flights"] == report.snapshots["flights"]
        assert run.data.tags["prodml.environment"]
        inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
        assert set(inputs) == {"flights", "weather", "planes"}
        assert report.snapshots["flights"].startswith(inputs["flights"].digest)
        assert report.snapshots["flights"] in inputs["flights"].source
    first = client.get_model_version("flights-delay", "1")
    assert first.run_id == report.run_ids["lightgbm"]
    # The canary promoted the retrained version, and MLflow's alias moved with it.
    champion = client.get_model_version_by_alias("flights-delay", "champion")
    assert str(champion.version) == report.champion_version != "1"


@pytest.mark.slow
def test_every_served_prediction_is_in_the_log_at_its_replayed_time(demo):
    ws, report = demo
    streamed = report.stream["answered"]
    assert report.api["requests"] + streamed == report.api["logged"] == 40
    assert report.api["bad_request_status"] == 422
    logged = ws.prediction_log("flights-delay").read()
    # The bad request is logged as refused, naming its field, and answers nothing.
    refused = logged[logged["rejected"].notna()]
    (reasons,) = refused["rejected"].tolist()
    assert "distance: not a number" in reasons
    live = logged[logged["channel"].isin(["http", "stream"]) & logged["rejected"].isna()]
    times = pd.to_datetime(live["timestamp"]).dt.tz_convert("America/New_York")
    assert (times.dt.month == 7).all()
    assert times.is_monotonic_increasing
    assert (live["prediction_set"].map(len) >= 1).all()  # conformal sets on every answer


@pytest.mark.slow
def test_a_slice_of_traffic_streams_through_nats_into_the_same_log(demo, nats_url):
    ws, report = demo
    assert report.stream["skipped"] == ""
    assert report.stream["answered"] == 8  # every fifth of 40
    logged = ws.prediction_log("flights-delay").read()
    assert (logged["channel"] == "stream").sum() == 8


@pytest.mark.slow
def test_every_batch_score_is_in_the_log(demo):
    ws, report = demo
    logged = ws.prediction_log("flights-delay").read()
    batch = logged[logged["request_id"].isin(report.batch["ids"])]
    assert len(batch) == report.batch["scored"] == report.rows["scored (Jul–Dec)"]
    assert report.batch["rejected"] == 0


@pytest.mark.slow
def test_batch_scores_and_monthly_findings_cover_july_to_december(demo):
    ws, report = demo
    scores = pd.concat(pd.read_parquet(path) for path in report.batch["outputs"])
    assert len(scores) == report.rows["scored (Jul–Dec)"]
    assert scores["score"].between(0, 1).all()
    assert [m["month"] for m in report.monthly] == ["Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    auc = [f for f in ws.metadata.list_findings(monitor="performance") if f.metric == "roc_auc"]
    assert [round(f.value, 6) for f in auc] == [round(m["auc"], 6) for m in report.monthly]
    assert all(0.6 < f.value < 0.8 for f in auc)
    for month in report.monthly:
        assert month["auc_low"] < month["auc"] < month["auc_high"]
        # Label-free, from the scores alone: within a few points of what the outcomes say.
        assert abs(month["estimated_auc"] - month["auc"]) < 0.08
        # Its range holds the realized figure (registration measured how far periods stray).
        assert month["estimated_low"] <= month["auc"] <= month["estimated_high"]
    drift = ws.metadata.list_findings(monitor="drift")
    # Every feature and the prediction, every month: the statistic, the drifted flag, the
    # rule that decided and the chance level at the month's size.
    assert len(drift) == 6 * 4 * len(report.monthly[0]["drift"])
    # The month is not an input: trained on January–May, it would drift by construction.
    assert not any(d.feature == "month" for d in report.monthly[0]["drift"])
    # The summer's weather, which training never saw, does drift, and is alerted.
    raised = {(a.rule, a.subject) for a in ws.metadata.list_alerts(model_name="flights-delay")}
    assert ("feature-drift", "temp") in raised
    (july_temp,) = [d for d in report.monthly[0]["drift"] if d.feature == "temp"]
    assert july_temp.drifted


@pytest.mark.slow
def test_a_retrained_canary_is_promoted_and_a_broken_one_rolled_back(demo):
    ws, report = demo
    retrained, broken = report.rollouts
    actions = [d["action"] for d in retrained.decisions]
    assert actions[-3:] == ["advance", "advance", "promote"], retrained.decisions
    assert broken.outcome == "rollback"
    # Its one score for every flight fails a check of its scores: the label-free one, or
    # (when monitoring holds the July champion to have fallen, so shifted scores are no
    # fault) the estimated one, its estimated AUC 0.5; or, when the stable's labelled
    # outcomes show its own scores off their rate (the scores check then defers to them)
    # and a loaded machine let labels arrive first, the realized one, its AUC 0.5.
    why = broken.decisions[-1]["reason"]
    check = why.split(" check failed")[0]
    assert check in ("scores", "estimated", "realized"), why
    assert check != "realized" or "realized ROC AUC is 0.500" in why, why
    assert retrained.errors == broken.errors == 0  # no caller got an error
    assert retrained.labels > 0
    history = ws.metadata.deployment_history("flights")
    # The controller's pass after monitoring may start a canary of its own, after these.
    decided = [c for c in history if c.action != "hold" and c.actor != "controller"]
    assert [(c.action, c.actor.split(" (token")[0]) for c in decided][-5:] == [
        ("advance", "analysis"),
        ("advance", "analysis"),
        ("promote", "analysis"),
        ("canary", "demo data-scientist"),
        ("rollback", "analysis"),
    ]
    assert decided[-1].figures["checks"][check]["verdict"] == "fail"
    champion = ws.registry.resolve("flights-delay@champion")
    assert champion.version == retrained.candidate == report.champion_version
    assert (
        f"{check} check failed"
        in ws.registry.resolve(f"flights-delay/{broken.candidate}").tags["prodml.rollback"]
    )


@pytest.mark.slow
def test_one_controller_pass_retrains_on_the_outcomes_and_canaries_what_passed(demo):
    """After monitoring, with no one asking, the controller acts on the alerts it left:
    it retrains on the labelled production rows, the gate judges the result against the
    champion on December's flights (never trained on), and the version that passed goes
    out as a canary behind deployment "flights"."""
    from prodml.automate.recipe import RETRAINED

    ws, report = demo
    kinds = [d.kind for d in report.retrain]
    assert kinds == ["policy", "retraining", "retrained", "rollout"], report.retrain
    assert {d.actor for d in report.retrain} == {"controller"}
    _, retraining, retrained, rollout = report.retrain
    assert retraining.version == report.champion_version
    assert "performance-drop" in retraining.figures["firing"]
    assert retraining.figures["batch"]["rows"] == report.batch["scored"]  # every outcome
    gate = retrained.figures["gate"]
    assert gate["passed"]
    (champion,) = [c for c in gate["comparisons"] if c["role"] == "champion"]
    assert champion["against"] == f"flights-delay/{report.champion_version}"
    held_out = retrained.figures["rows"]["valid"] + retrained.figures["rows"]["reserve"]
    assert held_out == report.monthly[-1]["rows"]  # December's flights judge it
    version = ws.registry.resolve(f"flights-delay/{retrained.version}")
    assert version.tags["prodml.recipe"] == RETRAINED  # `prodml models reproduce` reruns it
    last = ws.metadata.deployment_history("flights")[-1]
    assert (last.action, last.actor) == ("canary", "controller")
    assert last.policy["arms"][0]["version"] == rollout.version == retrained.version
    text = Console(file=io.StringIO(), width=120)
    render_report(text, report, ws, seconds=1.0)
    assert "Continuous training: the controller's pass" in text.file.getvalue()


@pytest.mark.slow
def test_the_summary_prints_real_figures(demo):
    ws, report = demo
    console = Console(file=io.StringIO(), width=120)
    render_report(console, report, ws, seconds=1.0)
    text = console.file.getvalue()
    assert f"{report.models['lightgbm']['roc_auc']:.4f}" in text
    assert ws.tracking_uri in text
    # One row per alert rule, however many features it fired on.
    rules = {a.rule for a in report.alerts}
    assert all(text.count(f"│ {rule} ") == 1 for rule in rules), text


@pytest.mark.slow
def test_serving_takes_keys_and_parity_holds_on_the_demo(demo):
    ws, report = demo
    features = report.features
    assert features["parity_ok"]
    assert features["parity_checked"] > 0
    assert "tailnum" in features["request_fields"]
    assert not {"temp", "seats", "route_delay_rate_28d", "plane_age"} & set(
        features["request_fields"]
    )
    logged = ws.prediction_log("flights-delay").read()
    # Batch rows hold every feature already; the one refused request has none.
    live = logged[(logged["channel"] != "batch") & logged["rejected"].isna()]
    enriched = pd.DataFrame(list(live["features"]))
    assert (enriched["weather__status"] == "fresh").mean() > 0.9
    assert enriched["dew_point_spread"].notna().mean() > 0.9
    # The model was registered with the service it was trained on, so `prodml serve` can
    # enrich its requests the same way.
    champion = ws.registry.load("flights-delay@champion")[0]
    assert champion.feature_service == "flights"


@pytest.mark.slow
def test_the_champion_reproduces_bit_for_bit_and_a_second_training_is_cached(demo):
    from prodml.registry.reproduce import reproduce

    ws, report = demo
    found = reproduce(
        "flights-delay@champion",
        ws.registry,
        read_snapshot=ws.read_snapshot,
        snapshot_record=ws.metadata.get_snapshot,
        now=ws.clock.now(),
        code_dir=ws.project_dir,
    )
    assert found.identical
    assert found.same_step_key
    assert found.rows == report.rows["validation (Jun)"]
    assert report.training["reused"] == 0  # the first run computed every step


@pytest.mark.slow
def test_prometheus_scrapes_the_demos_drift_gauge_from_the_api(demo, tmp_path):
    from prodml.cli.serve_app import build
    from prodml.serve.server import BackgroundServer
    from tests._prometheus import prometheus_scraping, query_until

    ws, _ = demo
    (temp,) = [
        f
        for f in ws.metadata.list_findings(monitor="drift", model_name="flights-delay")
        if f.feature == "temp" and f.metric in STATISTICS and f.window_start.month == 12
    ]  # December, the newest window
    app, _ = build(ws, "flights-delay@champion", follow=False)
    with BackgroundServer(app) as server:
        target = server.url.removeprefix("http://")
        with prometheus_scraping(target, tmp_path) as prometheus:
            result = query_until(
                prometheus,
                'max by (method) (prodml_drift_score{model="flights-delay",feature="temp"})',
            )
    assert [r["metric"]["method"] for r in result] == [temp.metric]
    assert float(result[0]["value"][1]) == pytest.approx(temp.value, rel=1e-12)


@pytest.mark.slow
def test_the_monitoring_report_draws_realized_and_estimated_auc(demo, tmp_path):
    from prodml.monitor.report import ESTIMATED_COLOR, REALIZED_COLOR
    from tests._browser import pixels_of, screenshot

    _, report = demo
    page = Path(report.paths["monitoring report"])
    html = page.read_text()
    assert "feature-drift" in html
    assert "temp" in html
    image = screenshot(page, tmp_path)
    assert pixels_of(image, REALIZED_COLOR) > 500
    assert pixels_of(image, ESTIMATED_COLOR) > 500


@pytest.mark.slow
def test_every_step_acted_as_its_role_and_the_audit_log_verifies(demo):
    ws, report = demo
    assert report.api["no_token_status"] == 401
    assert report.api["client_labels_status"] == 403
    assert report.audit["ok"]
    assert report.audit["verdict"] == ws.audit.verify().sentence()
    events = list(ws.audit.events())
    by_kind = report.audit["events"]
    assert sum(by_kind.values()) == len(events)
    assert by_kind["token.create"] >= 7
    actors = {}
    for e in events:
        actors.setdefault(e.action, []).append(e.actor.split(" (token")[0])
    # People first; then the controller, with no one asking, ingested the labelled
    # production rows and registered the retrained version.
    assert actors["data.ingest"] == ["demo data-engineer"] * 3 + ["controller"]
    assert actors["model.register"][0] == "demo data-scientist"
    assert actors["model.register"][-1] == "controller"
    assert any(e.action == "auth.denied" and "demo client" in e.actor for e in events)
    console = Console(file=io.StringIO(), width=120)
    render_report(console, report, ws, seconds=1.0)
    text = console.file.getvalue()
    assert "prodml audit verify" in text
    assert "The audit log is intact" in text
    assert "Audit events by kind" in text


@pytest.mark.slow
def test_the_console_tells_the_demos_story_in_chromium(demo):
    from prodml.demo.rollout import DEPLOYMENT
    from prodml.serve.server import BackgroundServer
    from prodml.ui import create_ui
    from tests._browser import browser, console_errors

    ws, report = demo
    with BackgroundServer(create_ui(ws)) as server, browser() as chromium:
        # The demo photographed the console's main pages (Chromium is installed here).
        pictures = sorted(p.name for p in (ws.state_dir / "demo").glob("console-*.png"))
        assert len(pictures) == 6, pictures
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        errors = console_errors(page)
        story = {
            "/data": "flights",  # the snapshots, the quarantined cancelled flights
            "/models/flights-delay": "passed",  # the gate
            "/models/flights-delay/monitoring": "performance-drop",
            "/models/flights-delay/training": "retrained",  # the controller's pass
            f"/deployments/{DEPLOYMENT}": "rollback",  # the broken canary
            "/audit": "The audit log is intact",
        }
        for path, says in story.items():
            assert page.goto(server.url + path).status == 200, path
            page.wait_for_load_state("load")
            assert says in page.locator("main").inner_text(), path
            drawn = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
            assert page.evaluate(drawn), path
        # The deployment's page draws the checks of its two judged canaries, per analysis.
        page.goto(f"{server.url}/deployments/{DEPLOYMENT}")
        assert page.locator('img[src$="/checks.svg"]').count() == 1
        assert page.evaluate(drawn)
        assert errors == []
    assert report.paths["console screenshots"].endswith("console-*.png")


@pytest.mark.slow
def test_a_two_month_replay_retrains_and_rolls_out_with_no_one_in_the_loop(demo):
    """`prodml demo --replay` on July and August (every sixth flight): the loop retrains
    on its own outcomes, canaries what passed the gate, and every caller is answered.
    Last in this module: it takes deployment "flights" over, so the console's story of
    the demo's own canaries is checked before it."""
    ws, _ = demo
    report = run_demo(ws, Console(file=io.StringIO()), replay=ReplayPlan((7, 8), every=6))
    replay = report.replay
    assert [f"{m.start:%b}" for m in replay.months] == ["Jul", "Aug"]
    for month in replay.months:
        assert month.rows > 4_000
        assert all(0.6 < auc < 0.9 for auc in month.auc.values()), month.auc
    assert replay.failed == 0
    assert replay.locked_ticks == 0
    assert replay.labels > 7_500  # outcomes came back through /v1/feedback
    kinds = [d.kind for d in replay.decisions]
    assert "retraining" in kinds
    assert "retrained" in kinds
    assert replay.trained("oracle") == 2
    assert replay.trained("bimonthly") == 1  # July's refit serves August too
    stored = ws.metadata.list_decisions("flights-delay")
    assert {d.kind for d in stored} >= set(kinds)
    audited = {e.action for e in ws.audit.events()}
    assert {f"ct.{k}" for k in kinds} <= audited
    page = Path(report.paths["replay chart"]).read_text()
    assert "<svg" in page
    assert "continuous training" in page
    figures = replay.figures()
    assert figures["oracle_retrains"] == 2
    assert figures["bimonthly_retrains"] == 1
    assert figures["failed_requests"] == 0
    console = Console(file=io.StringIO(), width=140)
    render_replay(console, replay, report.paths)
    assert "The replayed year" in console.file.getvalue()
    # The console's continuous-training page tells the same retrains.
    from starlette.testclient import TestClient

    from prodml.ui import create_ui

    with TestClient(create_ui(ws)) as browser:
        training = browser.get("/models/flights-delay/training")
    assert training.status_code == 200
    assert training.text.count('class="kind-retrained"') == kinds.count("retrained")
