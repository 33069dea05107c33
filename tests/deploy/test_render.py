"""render.yaml against the Render Blueprint specification (https://render.com/docs/blueprint-spec).

Render publishes its JSON schema only at https://render.com/schema/render.yaml.json and through
SchemaStore's website; no package on PyPI or npm ships it, so the rules below are the
specification's own, written out: the root and service fields, the service types and
runtimes, what a Docker service and a background worker may set, and the forms an
environment variable takes.
"""

import shlex

import pytest
import yaml

from tests.deploy.conftest import REPO, compose_file
from tests.deploy.test_kubernetes import PRODUCTION_REQUIRED

BLUEPRINT = yaml.safe_load((REPO / "render.yaml").read_text())
ROOT_FIELDS = {"services", "databases", "envVarGroups", "projects", "ungrouped", "previews"}
SERVICE_TYPES = {"web", "pserv", "worker", "cron", "keyvalue", "redis"}
RUNTIMES = {"node", "python", "elixir", "go", "ruby", "rust", "docker", "image", "static"}
PLANS = {"free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra"}
COMMON_FIELDS = {
    "name",
    "type",
    "runtime",
    "plan",
    "region",
    "repo",
    "branch",
    "autoDeployTrigger",
    "envVars",
    "numInstances",
    "scaling",
    "buildFilter",
    "rootDir",
    "previews",
    "preDeployCommand",
}
DOCKER_FIELDS = {"dockerCommand", "dockerfilePath", "dockerContext", "registryCredential"}
# Fields the specification allows only for some types.
ONLY_FOR = {
    "healthCheckPath": {"web"},
    "domains": {"web"},
    "maxShutdownDelaySeconds": {"web", "pserv", "worker"},
}
VALUE_SOURCES = {"value", "generateValue", "sync", "fromDatabase", "fromService"}
# What an environment group may not hold: only a service can prompt or reference.
NOT_IN_GROUPS = {"sync", "fromDatabase", "fromService", "fromGroup"}
SERVICES = {service["name"]: service for service in BLUEPRINT["services"]}
GROUPS = {group["name"]: group for group in BLUEPRINT.get("envVarGroups", [])}


def check_variable(variable: dict, *, in_group: bool) -> None:
    if "fromGroup" in variable:
        assert not in_group
        assert set(variable) == {"fromGroup"}
        assert variable["fromGroup"] in GROUPS
        return
    sources = set(variable) & VALUE_SOURCES
    assert set(variable) == {"key"} | sources, variable
    assert len(sources) == 1, variable
    assert isinstance(variable["key"], str) and variable["key"]
    if in_group:
        assert not sources & NOT_IN_GROUPS, variable
    if "value" in variable:
        assert isinstance(variable["value"], str), variable
    if "generateValue" in variable:
        assert variable["generateValue"] is True
    if "sync" in variable:
        assert variable["sync"] is False


def environment(service: dict) -> set[str]:
    names = set()
    for variable in service["envVars"]:
        if "fromGroup" in variable:
            names |= {v["key"] for v in GROUPS[variable["fromGroup"]]["envVars"]}
        else:
            names.add(variable["key"])
    return names


def test_root_and_groups():
    assert set(BLUEPRINT) <= ROOT_FIELDS
    assert BLUEPRINT["services"]
    for group in GROUPS.values():
        assert set(group) == {"name", "envVars"}
        keys = [variable["key"] for variable in group["envVars"]]
        assert len(keys) == len(set(keys))
        for variable in group["envVars"]:
            check_variable(variable, in_group=True)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_follows_the_specification(name):
    service = SERVICES[name]
    assert len(SERVICES) == len(BLUEPRINT["services"]), "service names must be unique"
    assert service["type"] in SERVICE_TYPES
    assert service["runtime"] in RUNTIMES
    allowed = COMMON_FIELDS | set(ONLY_FOR)
    if service["runtime"] == "docker":
        allowed |= DOCKER_FIELDS
        assert (REPO / service["dockerfilePath"]).is_file()
        assert (REPO / service["dockerContext"]).is_dir()
    else:
        assert {"buildCommand", "startCommand"} <= set(service)
    assert set(service) <= allowed | {"buildCommand", "startCommand"}, set(service) - allowed
    for field, types in ONLY_FOR.items():
        if field in service:
            assert service["type"] in types, field
    assert service.get("plan", "starter") in PLANS
    if "numInstances" in service:
        assert isinstance(service["numInstances"], int) and service["numInstances"] >= 1
    if "maxShutdownDelaySeconds" in service:
        assert 1 <= service["maxShutdownDelaySeconds"] <= 300
    keys = [variable["key"] for variable in service["envVars"] if "key" in variable]
    assert len(keys) == len(set(keys))
    for variable in service["envVars"]:
        check_variable(variable, in_group=False)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_what_production_requires(name):
    service = SERVICES[name]
    assert environment(service) >= PRODUCTION_REQUIRED, PRODUCTION_REQUIRED - environment(service)
    values = {
        variable["key"]: variable
        for group in GROUPS.values()
        for variable in group["envVars"]
        if variable["key"] in environment(service)
    } | {variable["key"]: variable for variable in service["envVars"] if "key" in variable}
    assert values["DEBUG"] == {"key": "DEBUG", "value": "false"}
    # Secrets and the managed services' URLs are asked for, never written here; SECRET_KEY is
    # generated once in a group, so every service shares it.
    for key in PRODUCTION_REQUIRED - {"SECRET_KEY"}:
        assert values[key] == {"key": key, "sync": False}, key
    assert values["SECRET_KEY"] == {"key": "SECRET_KEY", "generateValue": True}
    assert "SECRET_KEY" not in {variable.get("key") for variable in service["envVars"]}


def test_the_services_run_what_compose_runs():
    """The same processes as the deploy stack: one image, the web on Render's PORT."""
    compose = compose_file("docker-compose.deploy.yml")["services"]
    assert {name: s["type"] for name, s in SERVICES.items()} == {
        "secure-my-spot-web": "web",
        "secure-my-spot-push": "web",
        "secure-my-spot-worker": "worker",
        "secure-my-spot-beat": "worker",
        "secure-my-spot-publisher": "worker",
    }
    assert {s["runtime"] for s in SERVICES.values()} == {"docker"}
    assert {s["dockerfilePath"] for s in SERVICES.values()} == {"./Dockerfile"}
    web = SERVICES["secure-my-spot-web"]
    assert "dockerCommand" not in web  # the image's CMD: gunicorn on $PORT
    assert web["preDeployCommand"] == compose["migrate"]["command"]
    assert web["healthCheckPath"] == "/healthz"
    commands = {
        name: shlex.split(s["dockerCommand"]) for name, s in SERVICES.items() if name != web["name"]
    }
    push = commands["secure-my-spot-push"]
    assert push[:2] == ["sh", "-c"] and '-p "$PORT"' in push[2]
    assert push[2].replace('"$PORT"', "8001").removeprefix("exec ") == compose["push"]["command"]
    worker = commands["secure-my-spot-worker"]
    assert worker[:2] == ["sh", "-c"]
    assert (
        worker[2]
        .removeprefix("exec ")
        .replace('"$CELERY_CONCURRENCY"', "${CELERY_CONCURRENCY:-16}")
        == (compose["worker"]["command"])
    )
    assert commands["secure-my-spot-beat"] == shlex.split(compose["beat"]["command"])
    assert SERVICES["secure-my-spot-beat"]["numInstances"] == 1
    assert commands["secure-my-spot-publisher"] == shlex.split(compose["publisher"]["command"])
