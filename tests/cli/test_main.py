import contextlib
import re
import sys
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from prodml.cli import app, main
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame
from tests._server import prodml_server

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point (with its error handling) and return exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["prodml", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


COMMANDS = {
    "init": "Write a commented default prodml.yaml",
    "demo": "Train, register, serve and monitor a model",
    "serve": "Serve a registered model over HTTP",
    "score": "Batch-score a Parquet or CSV file",
    "stream": "Answer prediction requests from a message stream",
    "status": "Show what the workspace holds",
}


def test_help_lists_every_command_with_its_one_line_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for command, summary in COMMANDS.items():
        assert any(f" {command} " in line and summary in line for line in lines), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "e.g. prodml " + command in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("prodml ")


def test_init_writes_a_valid_commented_file_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    result = runner.invoke(app, ["init", "-C", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "prodml.yaml").read_text()
    assert text.startswith("# prodml settings")
    code, err = _main(monkeypatch, capsys, "init", "-C", str(tmp_path))
    assert code == 1
    assert "already exists; pass --force" in err
    assert runner.invoke(app, ["init", "-C", str(tmp_path), "--force"]).exit_code == 0


def test_status_of_an_empty_project_creates_nothing(tmp_path):
    result = runner.invoke(app, ["status", "-C", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "none yet" in result.output
    assert list(tmp_path.iterdir()) == []


def test_status_json_lists_snapshots(workspace):
    from prodml.data import open_source
    from tests.data._contracts import orders, orders_contract

    workspace.ingest(open_source(orders(10)), orders_contract())
    result = runner.invoke(
        app, ["status", "-C", str(workspace.settings.state_dir.parent), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"source": "DataFrame"' in result.output


def test_malformed_settings_end_in_one_clear_line_and_exit_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "prodml.yaml").write_text("serving: [\n")
    code, err = _main(monkeypatch, capsys, "status", "-C", str(tmp_path))
    assert code == 1
    assert "error:" in err
    assert "not valid YAML" in err
    assert "Traceback" not in err


def test_an_unreachable_database_is_an_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "prodml.yaml").write_text(
        "metadata_url: postgresql+psycopg://postgres@127.0.0.1:1/nowhere\n"
    )
    code, err = _main(monkeypatch, capsys, "status", "-C", str(tmp_path))
    assert code == 1
    assert "Cannot reach the metadata database" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prodml.yaml"]


def test_serving_an_unknown_model_says_how_to_list_models(tmp_path, monkeypatch, capsys):
    code, err = _main(monkeypatch, capsys, "serve", "ghost@champion", "-C", str(tmp_path))
    assert code == 1
    assert "Not found while looking up ghost@champion" in err


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("metadata_url: not a url\n", "is not a database URL"),
        ("metadata_url: sqlite:///junk.db\n", "is it a prodml database?"),
        ("tracking_uri: sqlite:///junk.db\n", "Cannot use the MLflow tracking store"),
    ],
)
def test_bad_stores_end_in_one_clear_line(tmp_path, monkeypatch, capsys, settings, message):
    (tmp_path / "prodml.yaml").write_text(settings)
    (tmp_path / "junk.db").write_bytes(b"not a database" * 200)
    code, err = _main(monkeypatch, capsys, "status", "-C", str(tmp_path))
    assert code == 1
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_score_writes_scores_for_every_row(workspace, engine, rng, tmp_path):
    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    toy_frame(rng, 300).assign(id=range(300)).to_parquet(tmp_path / "in.parquet")
    project = str(workspace.project_dir)
    args = ["score", "toy", "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet")]
    options = ["-k", "id", "--chunk-rows", "100", "--engine", engine, "-C", project]
    result = runner.invoke(app, [*args, *options])
    assert result.exit_code == 0, result.output
    assert "Scored 300 rows" in result.output
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["id"].tolist() == list(range(300))
    np.testing.assert_allclose(
        out["score"], model.predict_frame(pd.read_parquet(tmp_path / "in.parquet"))
    )


def test_score_sets_bad_csv_rows_aside_and_logs_the_rest(workspace, rng, tmp_path):
    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    frame = toy_frame(rng, 50).astype({"size": object})
    frame.loc[3, "size"] = "unknown"
    frame.to_csv(tmp_path / "in.csv", index=False)
    args = ["score", "toy", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet")]
    result = runner.invoke(app, [*args, "-C", str(workspace.project_dir)])
    assert result.exit_code == 0, result.output
    assert "Scored 49 rows" in result.output
    assert "1 rows rejected" in result.output
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects[["_row", "_reject_reason"]].values.tolist() == [
        [3, "size: unknown is not a number"]
    ]
    logged = workspace.prediction_log("toy").read()
    assert logged["probability"].notna().sum() == 49
    # The rejected row is logged as refused, for monitoring to count.
    assert logged.loc[logged["rejected"].notna(), "rejected"].tolist() == [["size: not a number"]]


def test_stream_answers_requests_from_nats_until_idle(workspace, rng, nats_url):
    import asyncio

    import nats
    import orjson

    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    (workspace.project_dir / "prodml.yaml").write_text(f"streaming:\n  prefix: {prefix}\n")
    row = {"color": "red", "size": 0.5, "noise": None}

    async def broker(send: bool) -> None:
        client = await nats.connect(nats_url)
        js = client.jetstream()
        if send:
            await js.add_stream(name=prefix.upper(), subjects=[f"{prefix}.toy.>"])
            for i in range(3):
                body = orjson.dumps({"request_id": f"r{i}", "rows": [row]})
                await js.publish(f"{prefix}.toy.requests", body)
        else:
            await js.delete_stream(prefix.upper())
            with contextlib.suppress(nats.js.errors.NotFoundError):  # if shipping never ran
                await js.delete_stream(await js.find_stream_name_by_subject(f"{prefix}.toy.log"))
        await client.close()

    asyncio.run(broker(send=True))
    project = str(workspace.project_dir)
    args = ["stream", "toy", "--url", nats_url, "--idle-exit", "1.5", "-C", project]
    try:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "Answered 3 requests; 0 duplicates skipped" in result.output
        logged = workspace.prediction_log("toy").read()
        assert logged["request_id"].tolist() == ["r0", "r1", "r2"]
        # ... and the log goes on to JetStream, the production sink, once.
        for expected in (3, 0):
            shipped = runner.invoke(app, ["log", "ship", "toy", "--url", nats_url, "-C", project])
            assert shipped.exit_code == 0, shipped.output
            assert f"Shipped {expected} records to {prefix}.toy.log" in shipped.output
    finally:
        asyncio.run(broker(send=False))


def test_serve_with_two_workers_answers_and_logs_from_both(workspace, rng, tmp_path):
    import httpx

    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    workspace.registry.register("toy", log_model_run(workspace, model))
    row = {"color": "red", "size": 0.5, "noise": None}
    project = workspace.project_dir
    with prodml_server(project, "toy", "--workers", "2", output=tmp_path / "server.log") as url:
        for i in range(40):  # new connections: the kernel spreads them over both workers
            answer = httpx.post(
                f"{url}/v1/predict", json={"rows": [row]}, headers={"x-request-id": f"r{i}"}
            )
            assert answer.status_code == 200, answer.text
        assert httpx.get(f"{url}/readyz").json()["version"] == "1"
        # Whichever worker a scrape reaches counts both workers' requests (each shares
        # its counts every second).
        deadline, counted = time.monotonic() + 20, []
        while time.monotonic() < deadline and counted[-6:] != [40] * 6:
            counted.append(_answered(httpx.get(f"{url}/metrics").text))
            time.sleep(0.2)
        assert counted[-6:] == [40] * 6, counted
    log = workspace.prediction_log("toy")
    assert sorted(log.read()["request_id"]) == sorted(f"r{i}" for i in range(40))
    writers = [p for p in log.folder.iterdir() if p.is_dir()]
    assert 1 <= len(writers) <= 2


def _answered(metrics: str) -> int:
    """The requests answered with 200, as a /metrics page counts them."""
    found = re.findall(
        r'^prodml_requests_total\{[^}]*status="200"[^}]*\} ([\d.e+]+)$', metrics, re.M
    )
    return int(sum(float(n) for n in found))


def test_monitor_run_judges_logged_traffic_against_the_registered_reference(workspace, rng):
    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    version = workspace.registry.register("toy", log_model_run(workspace, model))
    workspace.save_reference("toy", version.version, toy_frame(rng, 2_000), TOY_SPEC.names)
    rows = toy_frame(rng, 300)
    with workspace.prediction_log("toy") as log:
        log.append(
            {
                "request_id": f"r{i}",
                "timestamp": f"2026-01-0{1 + i % 2}T12:00:00+00:00",
                "version": version.version,
                "inputs": {k: (None if v != v else v) for k, v in row.items() if k != "y"},
                "probability": float(p),
            }
            for i, (row, p) in enumerate(
                zip(rows.to_dict("records"), model.predict_frame(rows), strict=True)
            )
        )
    project = str(workspace.project_dir)
    result = runner.invoke(app, ["monitor", "run", "toy", "--freq", "D", "-C", project])
    assert result.exit_code == 0, result.output
    assert "2026-01-01 00:00" in result.output
    assert "2026-01-02 00:00" in result.output
    again = runner.invoke(app, ["monitor", "run", "toy", "-C", project])
    assert "Nothing new to judge for toy" in again.output
    # The truth arrives later, as a file keyed by request id.
    outcomes = workspace.project_dir / "outcomes.csv"
    rows.assign(request_id=[f"r{i}" for i in range(len(rows))])[["request_id", "y"]].to_csv(
        outcomes, index=False
    )
    loaded = runner.invoke(
        app, ["monitor", "labels", "toy", str(outcomes), "--label", "y", "-C", project]
    )
    assert loaded.exit_code == 0, loaded.output
    assert "Recorded 300 label(s)" in loaded.output
    measured = runner.invoke(app, ["monitor", "run", "toy", "-C", project])
    assert measured.exit_code == 0, measured.output
    assert "│ 150      │" in measured.output  # each day's 150 rows now labelled
    performance = workspace.metadata.list_findings(monitor="performance", model_name="toy")
    assert {f.metric for f in performance} >= {"roc_auc", "roc_auc.low", "labelled"}
    alerts = runner.invoke(app, ["monitor", "alerts", "--all", "-C", project])
    assert alerts.exit_code == 0, alerts.output


def test_labels_matched_on_logged_inputs_report_what_matched_nothing(workspace):
    with workspace.prediction_log("toy") as log:
        log.append(
            {
                "request_id": f"r{i}",
                "timestamp": "2026-01-01T12:00:00+00:00",
                "version": "1",
                "inputs": {"color": "red", "size": float(i)},
                "probability": 0.5,
            }
            for i in range(3)
        )
    outcomes = workspace.project_dir / "outcomes.csv"
    outcomes.write_text("size,truth\n0,1\n2,0\n7,1\n")
    project = str(workspace.project_dir)
    result = runner.invoke(
        app,
        [
            "monitor",
            "labels",
            "toy",
            str(outcomes),
            "--label",
            "truth",
            "--on",
            "size",
            "-C",
            project,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Recorded 2 label(s)" in result.output
    assert "1 row(s) matched no logged prediction" in result.output
    stored = {(x.request_id, x.label) for x in workspace.metadata.list_labels("toy")}
    assert stored == {("r0", 1.0), ("r2", 0.0)}


def test_a_classifiers_labels_must_be_zero_or_one(workspace):
    with workspace.prediction_log("toy") as log:
        log.append(
            [
                {
                    "request_id": "r1",
                    "timestamp": "2026-01-01T12:00:00+00:00",
                    "version": "1",
                    "inputs": {},
                    "probability": 0.4,
                }
            ]
        )
    outcomes = workspace.project_dir / "outcomes.csv"
    outcomes.write_text("request_id,label\nr1,2\n")
    result = runner.invoke(
        app, ["monitor", "labels", "toy", str(outcomes), "-C", str(workspace.project_dir)]
    )
    assert result.exit_code != 0
    assert "a classifier's label is 0 or 1" in str(result.exception) + result.output
    assert workspace.metadata.list_labels("toy") == []


def test_labels_without_the_label_column_name_what_is_there(workspace):
    outcomes = workspace.project_dir / "outcomes.csv"
    outcomes.write_text("request_id,truth\nr1,1\n")
    result = runner.invoke(
        app, ["monitor", "labels", "toy", str(outcomes), "-C", str(workspace.project_dir)]
    )
    assert result.exit_code != 0
    assert "have no column(s) label" in str(result.exception) + result.output


def test_monitor_run_says_how_to_get_a_reference_a_version_lacks(workspace, rng):
    model = fit_model("logistic", toy_frame(rng, 500), "y", TOY_SPEC)
    version = workspace.registry.register("toy", log_model_run(workspace, model))
    with workspace.prediction_log("toy") as log:
        log.append(
            [
                {
                    "request_id": "r1",
                    "timestamp": "2026-01-01T12:00:00+00:00",
                    "version": version.version,
                    "inputs": {"color": "red", "size": 0.5, "noise": None},
                    "probability": 0.5,
                }
            ]
        )
    result = runner.invoke(app, ["monitor", "run", "toy", "-C", str(workspace.project_dir)])
    assert result.exit_code != 0
    assert "No drift reference for toy version 1" in str(result.exception) + result.output


def test_monitor_compare_judges_one_window_against_another(workspace, rng):
    with workspace.prediction_log("toy") as log:
        for day, shift in ((1, 0.0), (2, 0.0), (3, 2.0)):
            log.append(
                {
                    "request_id": f"d{day}-{i}",
                    "timestamp": f"2026-01-0{day}T12:00:00+00:00",
                    "version": "1",
                    "inputs": {"color": "red", "size": float(x)},
                    "probability": 0.5,
                }
                for i, x in enumerate(rng.normal(shift, 1.0, 300))
            )
    project = str(workspace.project_dir)

    def compare(window: str) -> str:
        result = runner.invoke(
            app,
            [
                "monitor",
                "compare",
                "toy",
                "--baseline",
                "2026-01-01/2026-01-02",
                "--window",
                window,
                "-C",
                project,
            ],
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "yes" not in compare("2026-01-02/2026-01-03")
    assert re.search(r"size .* yes", compare("2026-01-03/2026-01-04"))
    bad = runner.invoke(
        app,
        ["monitor", "compare", "toy", "--baseline", "yesterday", "--window", "x/y", "-C", project],
    )
    assert bad.exit_code != 0
    assert "START/END" in bad.output
    empty = runner.invoke(
        app,
        [
            "monitor",
            "compare",
            "toy",
            "--baseline",
            "2025-01-01/2025-01-02",
            "--window",
            "2026-01-03/2026-01-04",
            "-C",
            project,
        ],
    )
    assert "holds no logged prediction" in str(empty.exception) + empty.output
