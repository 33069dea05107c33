"""Production settings, read by a fresh process exactly as a deploy container reads them."""

import json
import secrets
import subprocess

import pytest

from tests.deploy.conftest import REPO, production_env


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = production_env()
    for name in ("ALLOWED_HOSTS", "NUM_PROXIES", "WEB_CONCURRENCY", "CELERY_CONCURRENCY"):
        base.pop(name)
    return subprocess.run(
        ["python", "manage.py", *args],
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**env: str) -> dict:
    names = [
        "SECURE_PROXY_SSL_HEADER",
        "USE_X_FORWARDED_HOST",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SAMESITE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "CSRF_TRUSTED_ORIGINS",
    ]
    code = (
        "from django.conf import settings; import json; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names}}}))"
    )
    result = manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # after the shell's import notice


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    """`check --deploy` (every check, the apps' own included) as the README's pre-deploy step."""
    return manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="example.com",
        **env,
    )


def test_check_deploy_passes_with_production_settings():
    result = check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_catches_an_unsafe_configuration():
    result = check_deploy(SESSION_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W012" in result.stderr and "security.W004" in result.stderr
    assert "security.W012" in result.stderr  # session cookie not Secure
    assert "security.W004" in result.stderr  # no HSTS


def test_production_defaults_follow_debug():
    values = production(DEBUG="false", CSRF_TRUSTED_ORIGINS="https://app.example.com")
    assert values == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "USE_X_FORWARDED_HOST": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "CSRF_TRUSTED_ORIGINS": ["https://app.example.com"],
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "true"}, (False, False, 0)),
        ({"DEBUG": "false", "SECURE_SSL_REDIRECT": "false"}, (False, True, 31_536_000)),
        ({"DEBUG": "false", "SECURE_HSTS_SECONDS": "3600"}, (True, True, 3600)),
    ],
)
def test_environment_overrides_the_defaults(env, expected):
    values = production(**env)
    assert (
        values["SECURE_SSL_REDIRECT"],
        values["SESSION_COOKIE_SECURE"],
        values["SECURE_HSTS_SECONDS"],
    ) == expected
