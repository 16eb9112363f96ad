"""deploy/ checked offline: Kubernetes manifests against the Kubernetes API's schemas (kubernetes-validate,
strict), the RayService's pod templates likewise (no schema for KubeRay's CRD ships in a registry package, so
its own fields are not checked here), serve.yaml against Ray Serve's own config schema (and the deployment it
builds, whose health check is /readyz's), and HAProxy's config with ``haproxy -c``."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"  # the oldest release whose API has everything used (preStop `sleep`: 1.30+)
# Ray's own schemas still use pydantic-1-style Field(update_type=...): not ours to fix.
RAY_IMPORT_WARNINGS = pytest.mark.filterwarnings("ignore:Using extra keyword arguments on `Field`")
RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/version")


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def plain_route() -> dict[str, dict[str, Any]]:
    resources = [r for path in sorted((DEPLOY / "kubernetes" / "service").glob("*.yaml")) for r in load(path)]
    return {r["kind"]: r for r in resources}


def rayservice() -> dict[str, Any]:
    (resource,) = load(DEPLOY / "kubernetes" / "ray" / "rayservice.yaml")
    return resource


def validate(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def test_the_plain_route_validates_strictly():
    resources = plain_route()
    assert set(resources) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for resource in resources.values():
        validate(resource)


def test_strict_validation_catches_a_misspelt_field():
    deployment = copy.deepcopy(plain_route()["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_the_deployment_is_probed_bounded_and_unprivileged():
    resources = plain_route()
    deployment = resources["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for resource in resources.values():
        assert set(RECOMMENDED) <= set(resource["metadata"]["labels"]), resource["kind"]
    assert set(RECOMMENDED) <= set(pod["metadata"]["labels"])
    # Everything points at the same pods.
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert resources["Service"]["spec"]["selector"] == selector
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert resources["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_the_rayservice_pod_templates_validate_strictly():
    cluster = rayservice()["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for template in templates:
        validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template})
        assert set(RECOMMENDED) <= set(template["metadata"]["labels"])
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        for container in template["spec"]["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert set(container["resources"]) == {"requests", "limits"}


def unknown_serve_keys(config: dict[str, Any]) -> list[str]:
    """Keys Ray Serve's schemas do not define: Ray ignores them silently, a typo would never take effect."""
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import (
        DeploymentSchema,
        HTTPOptionsSchema,
        RayActorOptionsSchema,
        ServeApplicationSchema,
        ServeDeploySchema,
    )

    unknown: list[str] = []

    def check(where: str, section: dict[str, Any], model: Any) -> None:
        unknown.extend(f"{where}{key}" for key in section if key not in model.model_fields)

    check("", config, ServeDeploySchema)
    check("http_options.", config.get("http_options", {}), HTTPOptionsSchema)
    for app in config["applications"]:
        check(f"{app['name']}.", app, ServeApplicationSchema)
        for deployment in app.get("deployments", []):
            where = f"{app['name']}.{deployment['name']}."
            check(where, deployment, DeploymentSchema)
            check(where + "autoscaling_config.", deployment.get("autoscaling_config", {}), AutoscalingConfig)
            check(where + "ray_actor_options.", deployment.get("ray_actor_options", {}), RayActorOptionsSchema)
    return unknown


@RAY_IMPORT_WARNINGS
def test_serve_yaml_is_what_ray_serve_accepts_and_the_rayservice_runs_it():
    from ray.serve.schema import ServeDeploySchema

    serve_yaml = yaml.safe_load((DEPLOY / "ray" / "serve.yaml").read_text())
    (app,) = ServeDeploySchema.model_validate(serve_yaml).applications
    assert app.import_path == "service.ray_serve:build"
    assert unknown_serve_keys(serve_yaml) == []
    misspelt = copy.deepcopy(serve_yaml)
    misspelt["applications"][0]["deployments"][0]["max_ongoing_request"] = 3
    assert unknown_serve_keys(misspelt) == ["fer.fer.max_ongoing_request"]
    assert yaml.safe_load(rayservice()["spec"]["serveConfigV2"]) == serve_yaml
    assert rayservice()["spec"]["rayClusterConfig"]["rayVersion"] == __import__("ray").__version__


@RAY_IMPORT_WARNINGS
def test_serve_yaml_builds_the_deployment():
    from ray.serve import Application

    from service.ray_serve import build

    assert isinstance(build({"settings": {"max_faces": 5}}), Application)


def haproxy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return subprocess.run([binary, "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg")], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"], **env}, timeout=30)


def test_the_haproxy_config_is_valid_and_needs_its_node_addresses(tmp_path):
    ok = haproxy_check({"FER_NODE0": "198.18.1.2:8000", "FER_NODE1": "198.18.1.3:8000",
                        "FER_HAPROXY_SOCKET": str(tmp_path / "s.sock")})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = haproxy_check({"FER_HAPROXY_SOCKET": str(tmp_path / "s.sock")})
    assert missing.returncode != 0 and "server" in missing.stderr


@RAY_IMPORT_WARNINGS
def test_replica_health_is_the_readiness_check(make_app):
    """Ray replaces a replica whose check_health raises: it must fail exactly when /readyz does."""
    from fastapi.testclient import TestClient

    from service.ray_serve import FerReplica

    check_health = FerReplica.func_or_class.check_health  # the deployment's method, without a Ray runtime
    with pytest.raises(RuntimeError):
        check_health(SimpleNamespace(_app=None))
    with TestClient(make_app()) as client:
        assert client.get("/readyz").status_code == 200
        check_health(SimpleNamespace(_app=client.app))
    with TestClient(make_app(model_path="/nonexistent/model.onnx")) as client:
        assert client.get("/readyz").status_code == 503
        with pytest.raises(RuntimeError, match="not ready"):
            check_health(SimpleNamespace(_app=client.app))
