"""Feature definitions applied from a Python file, and the guard for models that use them."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from prodml.cli import app
from prodml.errors import ConfigError
from prodml.features.registry import apply, load_definitions
from tests._data import log_model_run

runner = CliRunner()


def _features_file(tmp_path, ttl_hours: int = 3):
    path = tmp_path / "features.py"
    path.write_text(
        textwrap.dedent(f"""
        from datetime import timedelta
        from prodml.features import Entity, FeatureService, FeatureView

        airport = Entity("airport", join_keys=("airport",))
        weather = FeatureView("weather", entity=airport, source="exports/weather/*.parquet",
                              timestamp="ts", features=("temp",), ttl=timedelta(hours={ttl_hours}))
        delays = FeatureService("delays", views=(weather,))
    """)
    )
    return path


def test_apply_records_and_reports_what_changed(workspace, tmp_path):
    views, services = load_definitions(path := _features_file(tmp_path))
    first = apply(workspace.metadata, views, services, now=workspace.clock.now(), file=path)
    assert first.added == ["view weather", "service delays"]
    again = apply(workspace.metadata, views, services, now=workspace.clock.now(), file=path)
    assert again.unchanged == ["view weather", "service delays"]
    views, services = load_definitions(path := _features_file(tmp_path, ttl_hours=6))
    changed = apply(workspace.metadata, views, services, now=workspace.clock.now(), file=path)
    assert changed.changed == ["view weather", "service delays"]
    assert workspace.metadata.feature_definitions("view")["weather"][0] == views[0].version


def test_changing_a_view_a_registered_model_uses_is_refused_unless_forced(
    workspace, tmp_path, toy_lightgbm
):
    views, services = load_definitions(path := _features_file(tmp_path))
    apply(workspace.metadata, views, services, now=workspace.clock.now(), file=path)
    workspace.registry.register(
        "delay-model",
        log_model_run(workspace, toy_lightgbm),
        tags={"prodml.feature_service": "delays"},
    )
    views, services = load_definitions(path := _features_file(tmp_path, ttl_hours=6))
    with pytest.raises(
        ConfigError, match=r"weather: service delays is used by delay-model/1.*--force"
    ):
        apply(
            workspace.metadata,
            views,
            services,
            now=workspace.clock.now(),
            file=path,
            models_using=workspace.registry.versions_using,
        )
    forced = apply(
        workspace.metadata,
        views,
        services,
        now=workspace.clock.now(),
        file=path,
        models_using=workspace.registry.versions_using,
        force=True,
    )
    assert forced.changed == ["view weather", "service delays"]


def test_a_broken_definitions_file_names_itself(tmp_path):
    (tmp_path / "features.py").write_text("raise RuntimeError('oops')\n")
    with pytest.raises(ConfigError, match=r"features\.py: failed to import \(RuntimeError: oops\)"):
        load_definitions(tmp_path / "features.py")


def test_the_cli_applies_lists_and_shows(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "150")
    path, project = str(_features_file(tmp_path)), str(tmp_path)
    result = runner.invoke(app, ["features", "apply", path, "-C", project])
    assert result.exit_code == 0, result.output
    assert "added: view weather, service delays" in result.output
    listed = runner.invoke(app, ["features", "list", "--json", "-C", project])
    assert set(json.loads(listed.output)["views"]) == {"weather"}
    shown = runner.invoke(app, ["features", "show", "weather", "-C", project])
    assert json.loads(shown.output)["ttl_seconds"] == 3 * 3600
    missing = runner.invoke(app, ["features", "show", "nope", "-C", project])
    assert missing.exit_code != 0


def test_materialize_then_parity_passes_and_detects_skew(tmp_path, monkeypatch):
    import pandas as pd

    from prodml.features.registry import load_service
    from prodml.workspace import Workspace

    monkeypatch.setenv("COLUMNS", "150")
    (tmp_path / "exports" / "weather").mkdir(parents=True)
    now = pd.Timestamp.now(tz="UTC").floor("h")
    pd.DataFrame(
        {
            "airport": ["JFK", "LGA", "EWR", "JFK"],
            "ts": [
                now - pd.Timedelta("2h"),
                now - pd.Timedelta("1h"),
                now - pd.Timedelta("30min"),
                now - pd.Timedelta("1h"),
            ],
            "temp": [1.0, 2.0, 3.0, 4.0],
        }
    ).to_parquet(tmp_path / "exports" / "weather" / "part-0.parquet")
    monkeypatch.chdir("/")  # the view's relative source is read from the project folder
    project = str(tmp_path)
    assert (
        runner.invoke(
            app, ["features", "apply", str(_features_file(tmp_path)), "-C", project]
        ).exit_code
        == 0
    )
    loaded = runner.invoke(app, ["features", "materialize-incremental", "delays", "-C", project])
    assert loaded.exit_code == 0, loaded.output
    assert "weather: 3 entities from the start" in loaded.output
    again = runner.invoke(app, ["features", "materialize-incremental", "delays", "-C", project])
    assert "weather: 0 entities from" in again.output
    parity = runner.invoke(app, ["features", "check-parity", "delays", "-C", project])
    assert parity.exit_code == 0, parity.output
    # Skew: serving gets a value training would never see for that moment.
    ws = Workspace.open(tmp_path)
    view = load_service(ws.metadata, "delays", root=tmp_path).views[0]
    ws.online_store.write(view, [(("LGA",), now.to_pydatetime(), {"temp": 99.0})])
    ws.close()
    skewed = runner.invoke(app, ["features", "check-parity", "delays", "-C", project])
    assert skewed.exit_code != 0
    assert "temp" in skewed.output
    assert "99.0" in skewed.output


def test_a_service_is_loaded_from_its_file_only_if_unchanged(workspace, tmp_path):
    from prodml.features.registry import load_service

    views, services = load_definitions(path := _features_file(tmp_path))
    apply(workspace.metadata, views, services, now=workspace.clock.now(), file=path)
    assert load_service(workspace.metadata, "delays").version == services[0].version
    service = load_service(workspace.metadata, "delays", root=tmp_path)
    assert service.views[0].source == str(tmp_path / "exports/weather/*.parquet")
    _features_file(tmp_path, ttl_hours=6)  # edited after apply
    with pytest.raises(ConfigError, match=r"has changed since it was applied.*features apply"):
        load_service(workspace.metadata, "delays")
