"""With DEBUG off, production refuses to start without its Stripe keys or a real mail server,
naming the variable: at `check --deploy`, and when gunicorn, daphne or a Celery worker starts
(none of them runs system checks by itself). Build-time commands need none of it."""

import subprocess
import sys

import pytest

from testing.net import free_port
from tests.deploy.conftest import REPO, VENV_BIN, production_env

INCOMPLETE = {
    "STRIPE_SECRET_KEY": {"STRIPE_SECRET_KEY": ""},
    "STRIPE_PUBLISHABLE_KEY": {"STRIPE_PUBLISHABLE_KEY": ""},
    "STRIPE_WEBHOOK_SECRET": {"STRIPE_WEBHOOK_SECRET": ""},
    "EMAIL_URL unset": {"EMAIL_URL": None},
    "EMAIL_URL console": {"EMAIL_URL": "consolemail://"},
    "EMAIL_URL locmem": {"EMAIL_URL": "memorymail://"},
}


def environment(**changes: str | None) -> dict[str, str]:
    """The deploy test environment (complete), with `changes` applied; None removes one."""
    env = production_env()
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own venv's commands, fixed arguments
        argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env)


def named_variable(case: str) -> str:
    return case.split()[0]


@pytest.mark.parametrize("case", INCOMPLETE)
def test_check_deploy_names_the_missing_variable(case):
    result = manage("check", "--deploy", env=environment(**INCOMPLETE[case]))

    assert result.returncode != 0
    assert named_variable(case) in result.stderr


@pytest.mark.parametrize("case", INCOMPLETE)
@pytest.mark.parametrize("entry_point", ["secure_my_spot.wsgi", "secure_my_spot.asgi"])
def test_the_web_processes_refuse_to_start_naming_the_variable(entry_point, case):
    result = run([sys.executable, "-c", f"import {entry_point}"], environment(**INCOMPLETE[case]))

    assert result.returncode != 0
    assert "Refusing to start" in result.stderr
    assert named_variable(case) in result.stderr


def test_gunicorn_exits_at_start_naming_the_variable():
    argv = [str(VENV_BIN / "gunicorn"), "secure_my_spot.wsgi", "--workers", "1"]
    argv += ["--bind", f"127.0.0.1:{free_port()}"]

    result = run(argv, environment(STRIPE_WEBHOOK_SECRET=""), timeout=30)

    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET must be set" in result.stderr


def test_a_celery_worker_exits_at_start_naming_the_variable():
    argv = [str(VENV_BIN / "celery"), "-A", "secure_my_spot", "worker", "--concurrency", "1"]
    env = environment(EMAIL_URL="consolemail://", CELERY_BROKER_URL="memory://")

    result = run(argv, env, timeout=30)

    assert result.returncode != 0
    assert "EMAIL_URL" in result.stderr + result.stdout


def test_a_complete_configuration_starts_and_passes_check_deploy():
    env = environment()

    deploy_check = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    web = run([sys.executable, "-c", "import secure_my_spot.wsgi, secure_my_spot.asgi"], env)

    assert deploy_check.returncode == 0, deploy_check.stderr
    assert web.returncode == 0, web.stderr


@pytest.mark.django_db(transaction=True)
def test_migrate_needs_neither_stripe_nor_mail_settings():
    env = environment(
        STRIPE_SECRET_KEY="", STRIPE_PUBLISHABLE_KEY="", STRIPE_WEBHOOK_SECRET="", EMAIL_URL=None
    )

    result = manage("migrate", "--plan", env=env)

    assert result.returncode == 0, result.stderr
