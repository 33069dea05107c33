"""Schema, docs and probes."""

import io

import pytest

pytestmark = pytest.mark.django_db

AUTH_ROUTES = {
    "/sign-up/": "post",
    "/sign-in/": "post",
    "/sign-out/": "delete",
    "/change-pw/": "patch",
}


def test_schema_describes_auth_routes_with_bodies(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path, method in AUTH_ROUTES.items():
        assert method in schema["paths"][path], path
    sign_up = schema["paths"]["/sign-up/"]["post"]["requestBody"]["content"]["application/json"]
    ref = sign_up["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "credentials" in schema["components"]["schemas"][ref]["properties"]


def test_schema_without_slash(api_client):
    response = api_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200


def test_docs_page_is_served(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_healthz(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_real_services(api_client):
    response = api_client.get("/readyz/")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "cache": "ok"},
    }


def test_readyz_reports_an_unreachable_broker(api_client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.django_db(transaction=True)
def test_ensure_database_creates_a_missing_database(settings):
    from django.core.management import call_command
    from django.db import connection

    name = "secure_my_spot_ensure_db_test"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "NAME": name}}
    try:
        out = io.StringIO()
        call_command("ensure_database", stdout=out)
        call_command("ensure_database", stdout=out)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            assert cursor.fetchone() == (1,)
        assert out.getvalue().splitlines() == [
            f"Created database {name}.",
            f"Database {name} exists.",
        ]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


def test_schema_generates_without_warnings(tmp_path):
    """Every route is described (authentication, distinct component names): no guesswork."""
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(target))

    schema = target.read_text()
    assert "tokenAuth" in schema and "/reservation-auth/{parking_spot_id}/" in schema


@pytest.mark.parametrize("path", ["/healthz", "/readyz/"])
def test_probes_answer_head_and_refuse_other_methods_in_json(api_client, path):
    assert api_client.head(path).status_code == 200

    response = api_client.post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "detail" in response.json()
