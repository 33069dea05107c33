"""Proving the container files without a container engine: the compose files are read the way
Compose reads them, and their commands, healthchecks and the nginx templates run natively."""

import http.client
import os
import re
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection

from testing.net import free_port, wait_until
from testing.nginx import nginx_main_conf, render_nginx, self_signed_certificate
from testing.processes import running

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HTTPS_GATE = REPO / "nginx" / "docker-entrypoint.d" / "25-https-needs-certificate.sh"
# The test settings' own choices (plain-HTTP test client), and production switches a shell may
# have set: a deploy process starts with the settings' production defaults.
NOT_INHERITED = {
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "USE_X_FORWARDED_HOST",
}
COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}")


def require(*executables: str) -> None:
    """Skip loudly where a tool is missing, but never on CI: .ci/run installs them."""
    missing = [name for name in executables if not shutil.which(name)]
    if not missing:
        return
    reason = f"NOT RUN: {', '.join(missing)} missing (apt-get install what .ci/run installs)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def compose_file(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's own substitution: ${VAR}, ${VAR:-default}, ${VAR:?error}, and $$ for $."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        value = env.get(name, "")
        if operator == "?" and not value:
            raise KeyError(f"{name}: {argument}")
        return value or (argument if operator == "-" else "")

    return COMPOSE_VARIABLE.sub(substitute, text)


def service_command(compose: dict, service: str, env: dict[str, str]) -> list[str]:
    """The argv Compose would start: interpolated, then split like a shell would."""
    command = compose["services"][service]["command"]
    if isinstance(command, list):
        return [interpolate(part, env) for part in command]
    return shlex.split(interpolate(command, env))


def healthcheck_argv(test: list[str] | str, env: dict[str, str]) -> list[str]:
    if isinstance(test, str):
        return ["sh", "-c", interpolate(test, env)]
    kind, *argv = (interpolate(part, env) for part in test)
    return ["sh", "-c", argv[0]] if kind == "CMD-SHELL" else argv


def request(
    port: int, path: str, headers: dict[str, str] | None = None, *, tls: bool = False
) -> http.client.HTTPResponse:
    """One request, redirects not followed, body read."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        # By name, so that TLS carries SNI: nginx refuses handshakes for unknown names.
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.body = response.read()
        return response
    finally:
        conn.close()


def answers(port: int, path: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return request(port, path, headers).status == 200
    except OSError:
        return False


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def production_env(**extra: str) -> dict[str, str]:
    """The deploy stack's environment: DEBUG off, a real-looking secret, the test database,
    and the Stripe and mail settings production refuses to start without (never used here)."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        NUM_PROXIES="1",
        WEB_CONCURRENCY="2",
        CELERY_CONCURRENCY="1",
        STRIPE_SECRET_KEY="sk_test_deploy_tests",
        STRIPE_PUBLISHABLE_KEY="pk_test_deploy_tests",
        STRIPE_WEBHOOK_SECRET="whsec_deploy_tests",
        EMAIL_URL="smtp://127.0.0.1:25",
    )
    env.update(extra)
    return env


def dockerfile_collectstatic_env() -> dict[str, str]:
    """The variables the Dockerfile's collectstatic RUN line sets for itself, and only those."""
    text = (REPO / "Dockerfile").read_text()
    line = re.search(r"RUN ((?:\w+=\S+\s+)+)\\?\s*python manage\.py collectstatic", text)
    assert line, "the Dockerfile runs collectstatic with its own build-only variables"
    return dict(assignment.split("=", 1) for assignment in line.group(1).split())


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """Static files collected exactly as the image build does it: no secret, no .env."""
    root = tmp_path_factory.mktemp("staticfiles")
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "STATIC_ROOT": str(root),
        **dockerfile_collectstatic_env(),
    }
    subprocess.run(
        ["python", "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root


@pytest.fixture
def proxy_stack(tmp_path, transactional_db, collected_static) -> Iterator[dict]:
    """nginx from the project's templates (self-signed TLS on loopback) in front of gunicorn
    started with the deploy stack's api command and production settings."""
    require("nginx", "envsubst", "openssl")
    gunicorn_port, http_port, https_port = free_port(), free_port(), free_port()
    env = production_env(STATIC_ROOT=str(collected_static))
    argv = service_command(compose_file("docker-compose.deploy.yml"), "api", env)
    argv = [part.replace("0.0.0.0:8000", f"127.0.0.1:{gunicorn_port}") for part in argv]

    letsencrypt, webroot = tmp_path / "letsencrypt", tmp_path / "certbot"
    self_signed_certificate(letsencrypt, "localhost")
    (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    conf_dir = tmp_path / "conf.d"
    render_nginx(
        conf_dir,
        {
            "DOMAIN": "localhost",
            "NGINX_HTTP_PORT": f"127.0.0.1:{http_port}",
            "NGINX_HTTPS_PORT": f"127.0.0.1:{https_port}",
            "API_UPSTREAM": f"127.0.0.1:{gunicorn_port}",
            "PUSH_UPSTREAM": f"127.0.0.1:{free_port()}",
            "STATIC_ROOT": str(collected_static),
            "CERTBOT_WEBROOT": str(webroot),
            "LETSENCRYPT_DIR": str(letsencrypt),
            "SECURE_HSTS_SECONDS": "31536000",
            "NGINX_CLIENT_MAX_BODY_SIZE": "1m",
        },
    )
    main = nginx_main_conf(tmp_path, conf_dir)
    nginx = ["nginx", "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"]
    probe = {"Host": "localhost", "X-Forwarded-Proto": "https"}
    with (
        running(argv, env, tmp_path / "gunicorn.log") as gunicorn,
        running(nginx, env, tmp_path / "nginx.log") as proxy,
    ):
        wait_until(lambda: answers(gunicorn_port, "/healthz", probe), 30, "gunicorn", gunicorn)
        wait_until(lambda: (tmp_path / "nginx.pid").exists(), 10, "nginx", proxy)
        yield {
            "env": env,
            "gunicorn": gunicorn,
            "gunicorn_port": gunicorn_port,
            "http_port": http_port,
            "https_port": https_port,
            "webroot": webroot,
            "static_root": collected_static,
            "logs": tmp_path,
        }
