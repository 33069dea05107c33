"""Every service's command and healthcheck, run natively the way its container would run it."""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from testing.net import free_port, wait_until
from testing.nginx import nginx_main_conf, render_nginx, self_signed_certificate
from testing.processes import running
from tests.deploy.conftest import (
    HTTPS_GATE,
    REPO,
    compose_file,
    healthcheck_argv,
    production_env,
    request,
    require,
    service_command,
)

DEV = compose_file("docker-compose.dev.yml")
DEPLOY = compose_file("docker-compose.deploy.yml")


def image_healthcheck() -> list[str]:
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    return json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M).group(1))


def succeeds(argv: list[str], env: dict[str, str], timeout: float = 20) -> bool:
    try:
        return (
            subprocess.run(argv, env=env, cwd=REPO, capture_output=True, timeout=timeout).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compose", [DEV, DEPLOY], ids=["dev", "deploy"])
def test_api_command_serves_and_passes_the_image_healthcheck(compose, tmp_path, collected_static):
    port = free_port()
    env = production_env(
        STATIC_ROOT=str(collected_static), ALLOWED_HOSTS="api.example.com", PORT=str(port)
    )
    argv = service_command(compose, "api", env)
    argv = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in argv]
    # The image's probe reads the port the container serves from PORT.
    probe = [part.replace("/app/", f"{REPO}/") for part in image_healthcheck()]
    with running(argv, env, tmp_path / "gunicorn.log") as process:
        wait_until(lambda: succeeds(probe, env), 30, "the image's HEALTHCHECK", process)
        # Production settings are on: plain HTTP without the proxy's header is redirected.
        plain = request(port, "/healthz", {"Host": "api.example.com"})
        assert plain.status == 301
        assert plain.getheader("Location") == "https://api.example.com/healthz"
        assert process.poll() is None
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Booting worker" in log


@pytest.mark.django_db(transaction=True)
def test_worker_command_answers_its_healthcheck(tmp_path):
    """Broker: a Redis database of the tests' own, so no other worker answers the ping."""
    env = production_env(
        CELERY_BROKER_URL=re.sub(r"/\d+$", "/13", production_env()["REDIS_URL"]),
        HOSTNAME=socket.gethostname(),
    )
    healthcheck = DEPLOY["services"]["worker"]["healthcheck"]
    assert DEV["services"]["worker"]["healthcheck"] == healthcheck
    probe = healthcheck_argv(healthcheck["test"], env)
    assert not succeeds(probe, env), "nothing answers before the worker starts"
    with running(service_command(DEPLOY, "worker", env), env, tmp_path / "worker.log") as worker:
        wait_until(lambda: succeeds(probe, env), 60, "celery inspect ping", worker)
        assert worker.poll() is None


def test_beat_command_starts_and_keeps_its_schedule(tmp_path):
    env = production_env()
    argv = service_command(DEPLOY, "beat", env)
    schedule = Path(argv[argv.index("--schedule") + 1])
    argv[argv.index("--schedule") + 1] = str(tmp_path / "celerybeat-schedule")
    # The image's user may write /tmp; the test keeps its own copy apart.
    assert schedule == Path("/tmp/celerybeat-schedule")  # noqa: S108
    with running(argv, env, tmp_path / "beat.log") as beat:
        wait_until(lambda: list(tmp_path.glob("celerybeat-schedule*")), 30, "beat's schedule", beat)
        assert beat.poll() is None
    assert "beat: Starting" in (tmp_path / "beat.log").read_text()


@pytest.mark.django_db(transaction=True)
def test_migrate_command_runs_against_the_database():
    env = production_env()
    result = subprocess.run(
        service_command(DEPLOY, "migrate", env), env=env, cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply" in result.stdout


@pytest.mark.parametrize("service", ["postgres", "redis", "rabbitmq"])
def test_backing_service_healthchecks_pass_against_the_real_services(service):
    argv = healthcheck_argv(DEV["services"][service]["healthcheck"]["test"], dict(os.environ))
    require(argv[0])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_config_renders_and_passes_nginx_t(tmp_path):
    require("nginx", "envsubst", "openssl")
    letsencrypt = tmp_path / "letsencrypt"
    self_signed_certificate(letsencrypt, "example.com")
    conf_dir = tmp_path / "conf.d"
    variables = {
        "DOMAIN": "example.com",
        "NGINX_HTTP_PORT": "80",
        "NGINX_HTTPS_PORT": "443",
        "API_UPSTREAM": "127.0.0.1:8000",
        "PUSH_UPSTREAM": "127.0.0.1:8001",
        "STATIC_ROOT": str(tmp_path / "static"),
        "CERTBOT_WEBROOT": str(tmp_path / "certbot"),
        "LETSENCRYPT_DIR": str(letsencrypt),
        "SECURE_HSTS_SECONDS": "31536000",
        "NGINX_CLIENT_MAX_BODY_SIZE": "1m",
    }
    render_nginx(conf_dir, variables)
    rendered = "\n".join(path.read_text() for path in sorted(conf_dir.glob("*.conf")))
    assert "${" not in rendered
    # nginx's own variables survive the rendering.
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in rendered
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(nginx_main_conf(tmp_path, conf_dir))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.parametrize("has_certificate", [True, False])
def test_https_waits_for_the_first_certificate(tmp_path, has_certificate):
    require("openssl")
    conf_dir = tmp_path / "conf.d"
    conf_dir.mkdir()
    (conf_dir / "http.conf").write_text("server {}")
    (conf_dir / "https.conf").write_text("server {}")
    if has_certificate:
        self_signed_certificate(tmp_path, "example.com")
    env = {
        "PATH": os.environ["PATH"],
        "DOMAIN": "example.com",
        "LETSENCRYPT_DIR": str(tmp_path),
        "NGINX_ENVSUBST_OUTPUT_DIR": str(conf_dir),
    }
    result = subprocess.run([str(HTTPS_GATE)], env=env, capture_output=True, text=True, check=True)
    assert (conf_dir / "https.conf").exists() is has_certificate
    assert (conf_dir / "http.conf").exists()
    assert ("WARNING" in result.stdout) is not has_certificate


def test_http_server_answers_acme_and_redirects_the_rest(proxy_stack):
    challenge = proxy_stack["webroot"] / ".well-known" / "acme-challenge" / "token-123"
    challenge.write_text("token-123.thumbprint")
    port = proxy_stack["http_port"]
    acme = request(port, "/.well-known/acme-challenge/token-123", {"Host": "localhost"})
    assert (acme.status, acme.body) == (200, b"token-123.thumbprint")
    other = request(port, "/admin/?q=1", {"Host": "localhost"})
    assert other.status == 301
    assert other.getheader("Location") == "https://localhost/admin/?q=1"
    # Unknown host names get no answer at all (444 closes the connection).
    with pytest.raises(ConnectionError):
        request(port, "/", {"Host": "attacker.example"})


def test_certify_init_script_is_valid_bash():
    require("bash")
    script = REPO / "certify-init.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_certify_init_refuses_to_run_without_configuration(tmp_path):
    """It checks .env before touching Docker (which is absent here)."""
    require("bash")
    shutil.copy(REPO / "certify-init.sh", tmp_path)
    (tmp_path / ".env").write_text("DOMAIN=example.com\n")
    result = subprocess.run(
        ["bash", str(tmp_path / "certify-init.sh")], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "CERTBOT_EMAIL" in result.stderr
