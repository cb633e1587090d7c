import pytest
import yaml

from prodml.errors import ConfigError
from prodml.settings import DEFAULT_YAML, Settings, load_settings


def test_defaults_keep_all_state_in_the_project_folder(tmp_path):
    settings = load_settings(tmp_path)
    state = tmp_path.resolve() / ".prodml"
    assert settings.state_dir == state
    assert settings.metadata_url == f"sqlite:///{state / 'metadata.db'}"
    assert settings.artifacts_url == str(state / "artifacts")
    assert settings.tracking_uri == f"sqlite:///{state / 'mlflow.db'}"
    assert settings.serving.port == 8000


def test_the_default_file_documents_every_setting_and_loads_to_the_defaults():
    documented = yaml.safe_load(DEFAULT_YAML)
    assert Settings(**documented) == Settings()
    assert set(documented) == set(Settings.model_fields)
    for section in ("serving", "streaming"):
        assert set(documented[section]) == set(
            Settings.model_fields[section].annotation.model_fields
        )


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    (tmp_path / "prodml.yaml").write_text("serving:\n  port: 9000\nlog_level: DEBUG\n")
    monkeypatch.setenv("PRODML_SERVING__PORT", "9100")
    settings = load_settings(tmp_path)
    assert settings.serving.port == 9100
    assert settings.log_level == "DEBUG"


def test_relative_state_dir_is_relative_to_the_project(tmp_path):
    (tmp_path / "prodml.yaml").write_text("state_dir: var/state\n")
    assert load_settings(tmp_path).state_dir == tmp_path.resolve() / "var" / "state"


def test_unknown_key_names_the_file_the_key_and_the_accepted_keys(tmp_path):
    (tmp_path / "prodml.yaml").write_text("serving:\n  prot: 80\n")
    with pytest.raises(ConfigError, match=r"prodml\.yaml: unknown setting 'serving\.prot'.*host"):
        load_settings(tmp_path)


def test_bad_value_names_the_key_and_the_accepted_values(tmp_path):
    (tmp_path / "prodml.yaml").write_text("log_level: LOUD\n")
    with pytest.raises(ConfigError, match=r"'log_level'.*'DEBUG', 'INFO', 'WARNING' or 'ERROR'"):
        load_settings(tmp_path)


def test_bad_environment_value_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODML_SERVING__PORT", "eighty")
    with pytest.raises(ConfigError, match="environment variable PRODML_SERVING__PORT"):
        load_settings(tmp_path)


def test_unknown_environment_variable_is_refused_not_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODML_METADATA_URI", "sqlite:///typo.db")
    with pytest.raises(
        ConfigError, match=r"PRODML_METADATA_URI: unknown setting.*PRODML_METADATA_URL"
    ):
        load_settings(tmp_path)


def test_malformed_yaml_names_line_and_column(tmp_path):
    (tmp_path / "prodml.yaml").write_text("serving:\n  port: [8000\n")
    with pytest.raises(ConfigError, match=r"prodml\.yaml:\d+:\d+: not valid YAML"):
        load_settings(tmp_path)


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path):
    (tmp_path / "prodml.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(tmp_path)


def test_relative_locations_are_inside_the_project_wherever_we_run(tmp_path, monkeypatch):
    (tmp_path / "prodml.yaml").write_text(
        "metadata_url: sqlite:///db/meta.db\nartifacts_url: store\ntracking_uri: mlruns\n"
    )
    monkeypatch.chdir("/")
    settings = load_settings(tmp_path)
    root = tmp_path.resolve()
    assert settings.metadata_url == f"sqlite:///{root / 'db' / 'meta.db'}"
    assert settings.artifacts_url == str(root / "store")
    assert settings.tracking_uri == str(root / "mlruns")


def test_urls_of_remote_services_are_left_alone(tmp_path):
    url = "postgresql+psycopg://u@db:5432/prodml"
    (tmp_path / "prodml.yaml").write_text(f"metadata_url: {url}\nartifacts_url: s3://b/p\n")
    settings = load_settings(tmp_path)
    assert settings.metadata_url == url
    assert settings.artifacts_url == "s3://b/p"


def test_a_nested_setting_given_as_a_scalar_variable_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODML_SERVING", "foo")
    with pytest.raises(ConfigError, match="PRODML_SERVING__PORT=9000"):
        load_settings(tmp_path)


@pytest.mark.parametrize("content", [b"log_level: \xff\xfe INFO\n", None])
def test_an_unreadable_settings_file_is_explained(tmp_path, content):
    path = tmp_path / "prodml.yaml"
    if content is None:
        path.mkdir()  # a folder where the file should be
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot be read as a UTF-8 text file"):
        load_settings(tmp_path)
