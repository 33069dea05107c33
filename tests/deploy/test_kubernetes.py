"""The Kubernetes manifests (k8s/): both overlays rendered by `kubectl kustomize`, every
document checked against the Kubernetes schemas (kubernetes-validate, strict), then the
promises the README makes about them."""

import copy
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import REPO, require

K8S = REPO / "k8s"
OVERLAYS = ["dev", "production"]
# A release every kubernetes-validate we pin bundles; the manifests use no API newer than it.
KUBERNETES_VERSION = "1.30"
SECRET_NAME = "secure-my-spot"
CONFIG_NAME = "secure-my-spot-config"
# What a process needs with DEBUG off: settings refuse to start without SECRET_KEY, the
# configuration checks without the mail and Stripe ones, and the rest default to loopback
# services (or, ALLOWED_HOSTS, to refusing every request).
PRODUCTION_REQUIRED = frozenset(
    {
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "EMAIL_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET",
    }
)
SERVING = ["secure-my-spot-web", "secure-my-spot-push"]


def render(overlay: str) -> list[dict]:
    require("kubectl")
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def of_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def pod_specs(documents: list[dict]) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in documents
        if d["kind"] in ("Deployment", "Job")
    }


def containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def secret_example_keys() -> set[str]:
    lines = (K8S / "secret.example.env").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def test_every_document_is_valid_kubernetes(rendered):
    overlay, documents = rendered
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Job", "Service", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "ConfigMap"} <= kinds
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_bites():
    """A misspelt field and a wrong type are refused: the check above is not vacuous."""
    deployment = of_kind(render("dev"), "Deployment")["secure-my-spot-beat"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["replica"] = 1
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "one"
    for document in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_one_image_for_every_container(rendered):
    overlay, documents = rendered
    images = {c["image"] for spec in pod_specs(documents).values() for c in containers(spec)}
    expected = {
        "dev": "secure-my-spot:dev",
        "production": "registry.example.com/secure-my-spot:1.0.0",
    }[overlay]
    assert images == {expected}


def test_workloads_and_their_commands(rendered):
    overlay, documents = rendered
    specs = pod_specs(documents)
    assert set(specs) == {
        "secure-my-spot-web",
        "secure-my-spot-push",
        "secure-my-spot-worker",
        "secure-my-spot-beat",
        "secure-my-spot-publisher",
        "secure-my-spot-migrate",
    }
    commands = {name: " ".join(spec["containers"][0]["command"]) for name, spec in specs.items()}
    assert "gunicorn secure_my_spot.wsgi" in commands["secure-my-spot-web"]
    assert commands["secure-my-spot-push"].startswith("daphne ")
    assert "secure_my_spot.asgi:application" in commands["secure-my-spot-push"]
    assert "celery -A secure_my_spot worker" in commands["secure-my-spot-worker"]
    assert "celery -A secure_my_spot beat" in commands["secure-my-spot-beat"]
    assert commands["secure-my-spot-publisher"] == "python manage.py publish_availability"
    assert commands["secure-my-spot-migrate"] == "python manage.py migrate --no-input"


def test_exactly_one_beat(rendered):
    overlay, documents = rendered
    beat = of_kind(documents, "Deployment")["secure-my-spot-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(
        hpa["spec"]["scaleTargetRef"]["name"] == "secure-my-spot-beat"
        for hpa in of_kind(documents, "HorizontalPodAutoscaler").values()
    )


def test_probes_on_the_serving_tiers(rendered):
    overlay, documents = rendered
    deployments = of_kind(documents, "Deployment")
    for name in SERVING:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        port_names = {port["name"] for port in container["ports"]}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            http_get = container[probe]["httpGet"]
            assert http_get["path"] == path, (name, probe)
            assert http_get["port"] in port_names
            headers = {h["name"]: h["value"] for h in http_get["httpHeaders"]}
            # Django answers the kubelet only for a host it allows, over the proxy's scheme.
            assert headers["X-Forwarded-Proto"] == "https"
            assert headers["Host"] in config(documents)["ALLOWED_HOSTS"].split(",")
    worker = deployments["secure-my-spot-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert "inspect ping" in " ".join(worker["livenessProbe"]["exec"]["command"])


def test_resources_and_security_context(rendered):
    overlay, documents = rendered
    for name, spec in pod_specs(documents).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in containers(spec):
            where = (name, container["name"])
            assert set(container["resources"]) == {"requests", "limits"}, where
            for resource in ("requests", "limits"):
                assert set(container["resources"][resource]) == {"cpu", "memory"}, where
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            # A read-only root: the one writable place is the scratch volume.
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert mounts in ([], ["/tmp"])  # noqa: S108 - the pod's own emptyDir


def config(documents: list[dict]) -> dict[str, str]:
    (config_map,) = of_kind(documents, "ConfigMap").values()
    return config_map["data"]


def test_secrets_only_from_the_cluster_secret(rendered):
    overlay, documents = rendered
    assert not of_kind(documents, "Secret")
    config_maps = of_kind(documents, "ConfigMap")
    (config_map_name,) = config_maps
    assert config_map_name.startswith(CONFIG_NAME)
    secret_keys = secret_example_keys()
    assert not secret_keys & set(config(documents)), "a secret's key in the ConfigMap"
    for name, spec in pod_specs(documents).items():
        for container in containers(spec):
            sources = container["envFrom"]
            assert [s["configMapRef"]["name"] for s in sources if "configMapRef" in s] == [
                config_map_name
            ]
            assert [s["secretRef"]["name"] for s in sources if "secretRef" in s] == [SECRET_NAME]
            inline = {variable["name"] for variable in container.get("env", [])}
            assert not inline & secret_keys, (name, container["name"])


def test_settings_production_requires_are_provided(rendered):
    overlay, documents = rendered
    provided = set(config(documents)) | secret_example_keys()
    assert provided >= PRODUCTION_REQUIRED, PRODUCTION_REQUIRED - provided
    assert config(documents)["DEBUG"] == "false"


def test_secret_example_holds_placeholders_only():
    text = (K8S / "secret.example.env").read_text()
    for marker in ("sk_live_", "whsec_", "pk_live_"):
        values = [line for line in text.splitlines() if marker in line]
        assert all("change_me" in line for line in values)


def test_autoscalers_and_budgets_point_at_real_pods(rendered):
    overlay, documents = rendered
    deployments = of_kind(documents, "Deployment")
    autoscalers = of_kind(documents, "HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()} == {
        "secure-my-spot-web",
        "secure-my-spot-worker",
    }
    for hpa in autoscalers.values():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        deployment = deployments[target["name"]]
        # The autoscaler owns the count: a fixed one would be reset by every apply.
        assert "replicas" not in deployment["spec"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        containers_of = deployment["spec"]["template"]["spec"]["containers"]
        assert all("cpu" in c["resources"]["requests"] for c in containers_of)
    budgets = of_kind(documents, "PodDisruptionBudget")
    assert set(budgets) == {"secure-my-spot-web", "secure-my-spot-push", "secure-my-spot-worker"}
    for name, budget in budgets.items():
        selected = [
            deployment_name
            for deployment_name, deployment in deployments.items()
            if selects(
                budget["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
            )
        ]
        assert selected == [name]


def test_services_and_ingress_reach_pods(rendered):
    overlay, documents = rendered
    deployments = of_kind(documents, "Deployment")
    services = of_kind(documents, "Service")
    assert set(services) == set(SERVING)
    for name, service in services.items():
        pod_spec = deployments[name]["spec"]["template"]
        assert selects(service["spec"]["selector"], pod_spec["metadata"]["labels"])
        port_names = {p["name"] for c in pod_spec["spec"]["containers"] for p in c["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names
    ingresses = of_kind(documents, "Ingress")
    if overlay == "dev":
        assert not ingresses
        return
    routes = {}
    for ingress in ingresses.values():
        assert ingress["spec"]["tls"] == [
            {"hosts": ["parking.example.com"], "secretName": "secure-my-spot-tls"}
        ]
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] == "parking.example.com"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service_ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in service_ports
                routes[path["path"]] = backend["name"]
    assert routes == {
        "/": "secure-my-spot-web",
        "/ws/": "secure-my-spot-push",
        "/availability-events/": "secure-my-spot-push",
    }


def test_overlays_size_the_tiers():
    dev, production = (render(overlay) for overlay in OVERLAYS)

    def replicas(documents: list[dict]) -> dict[str, int]:
        fixed = {
            name: d["spec"]["replicas"]
            for name, d in of_kind(documents, "Deployment").items()
            if "replicas" in d["spec"]
        }
        scaled = {
            hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["minReplicas"]
            for hpa in of_kind(documents, "HorizontalPodAutoscaler").values()
        }
        return fixed | scaled

    assert set(replicas(dev).values()) == {1}
    production_replicas = replicas(production)
    assert production_replicas["secure-my-spot-beat"] == 1
    assert all(
        count >= 2 for name, count in production_replicas.items() if name != "secure-my-spot-beat"
    )
    budgets = of_kind(production, "PodDisruptionBudget")
    assert budgets["secure-my-spot-web"]["spec"] == {
        "minAvailable": 2,
        "selector": budgets["secure-my-spot-web"]["spec"]["selector"],
    }
    assert of_kind(production, "NetworkPolicy")


def test_prometheus_reaches_every_metrics_port(rendered):
    """Web and push serve /metrics on `http`, each worker its counts on `metrics` (the
    configured WORKER_METRICS_PORT); production's network policies let the `monitoring`
    namespace reach exactly those ports, which the pods must declare by name."""
    overlay, documents = rendered
    pods = {
        name: {
            port["name"]: port["containerPort"]
            for c in spec["containers"]
            for port in c.get("ports", [])
        }
        for name, spec in pod_specs(documents).items()
    }
    config = of_kind(documents, "ConfigMap")
    literals = next(iter(config.values()))["data"]
    assert pods["secure-my-spot-worker"] == {"metrics": int(literals["WORKER_METRICS_PORT"])}
    for serving in SERVING:
        assert "http" in pods[serving]
    if overlay == "dev":
        return
    (policy,) = [
        p
        for p in of_kind(documents, "NetworkPolicy").values()
        if any(
            source.get("namespaceSelector", {})
            .get("matchLabels", {})
            .get("kubernetes.io/metadata.name")
            == "monitoring"
            for rule in p["spec"].get("ingress", [])
            for source in rule["from"]
        )
    ]
    (rule,) = policy["spec"]["ingress"]
    assert {port["port"] for port in rule["ports"]} == {"http", "metrics"}
    deployments = of_kind(documents, "Deployment")
    for name in [*SERVING, "secure-my-spot-worker"]:
        assert selects(
            policy["spec"]["podSelector"],
            deployments[name]["spec"]["template"]["metadata"]["labels"],
        )
