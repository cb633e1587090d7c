"""The container and Kubernetes files, checked without a cluster or a Docker engine: the
manifests against the Kubernetes schemas, their settings against prodml's own."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from prodml.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES = "1.30.0"


def _documents():
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            yield pytest.param(document, id=f"{path.name}:{document['kind']}")


@pytest.mark.parametrize("document", list(_documents()))
def test_every_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_kinds_a_production_rollout_needs_are_all_there():
    kinds = {d["kind"] for p in MANIFESTS for d in yaml.safe_load_all(p.read_text())}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_the_configmap_holds_only_settings_prodml_accepts(tmp_path, monkeypatch):
    (configmap,) = yaml.safe_load_all((ROOT / "deploy/kubernetes/configmap.yaml").read_text())
    for name, value in configmap["data"].items():
        monkeypatch.setenv(name, value)
    settings = load_settings(tmp_path)  # an unknown or invalid one is a ConfigError
    assert settings.serving.model == configmap["data"]["PRODML_SERVING__MODEL"]


def test_the_probes_point_at_the_apis_health_endpoints():
    (deployment,) = yaml.safe_load_all((ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    container, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for each in (container, sidecar):
        assert each["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_log_shipper_sidecar_runs_a_real_command_on_the_servers_volume():
    from typer.testing import CliRunner

    from prodml.cli import app

    (deployment,) = yaml.safe_load_all((ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    server, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    assert mounts["state"] == {m["name"]: m["mountPath"] for m in server["volumeMounts"]}["state"]
    result = CliRunner().invoke(app, [*sidecar["args"], "--help"])
    assert result.exit_code == 0, result.output


def test_the_image_is_slim_runs_as_a_user_and_checks_its_health():
    lines = [
        line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()
    ]
    assert lines[-1] == 'CMD ["serve"]'
    assert any(line.startswith("FROM python:") and "-slim" in line for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user
    assert user[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/healthz" in (ROOT / "Dockerfile").read_text()
