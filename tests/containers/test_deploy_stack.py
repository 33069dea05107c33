"""The deploy stack (docker-compose.deploy.yml) behind the project's nginx image with a
self-signed certificate, as on a server: DEBUG off, the managed services reached by URL (here
this machine's PostgreSQL, RabbitMQ and Redis), localstripe for Stripe and a real SMTP server."""

import http.client
import secrets
import socket
import ssl

import psycopg2
import pytest
from selenium.webdriver.common.by import By

from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET
from testing.nginx import self_signed_certificate
from tests.browser import admin_sign_in, open_page
from tests.containers.conftest import (
    LOGS,
    REPO,
    Api,
    Compose,
    a_metered_corner,
    journey,
    wait_for,
)

DOMAIN = "localhost"
HTTP_PORT, HTTPS_PORT = 29080, 29443
BASE = f"https://{DOMAIN}:{HTTPS_PORT}"
DATABASE = "smspot_stack_ci"
ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "a-long-operator-passphrase-42"
SCREENSHOT = REPO / "var" / "screenshots" / "admin-deploy-stack.png"


def maintenance(sql: str) -> None:
    # Not `with conn:`, which opens a transaction: CREATE/DROP DATABASE refuse to run in one.
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


def https_get(path: str, context: ssl.SSLContext, host: str = DOMAIN) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection(host, HTTPS_PORT, timeout=10, context=context)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.body = response.read()
        return response
    finally:
        conn.close()


def http_get(path: str, host: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.body = response.read()
        return response
    finally:
        conn.close()


@pytest.fixture(scope="module")
def deploy_stack(tmp_path_factory, localstripe, smtp_server):
    smtp_url, mailbox = smtp_server
    folder = tmp_path_factory.mktemp("deploy-stack")
    letsencrypt = folder / "letsencrypt"
    self_signed_certificate(letsencrypt, DOMAIN)
    context = ssl.create_default_context(cafile=letsencrypt / "live" / DOMAIN / "fullchain.pem")
    maintenance(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    maintenance(f"CREATE DATABASE {DATABASE}")
    # What an operator writes into .env (README, "Deploy"), pointing at this machine's services.
    env_file = folder / "stack.env"
    env_file.write_text(
        "\n".join(
            [
                f"SECRET_KEY={secrets.token_urlsafe(50)}",
                f"ALLOWED_HOSTS={DOMAIN}",
                f"DATABASE_URL=postgres://postgres@127.0.0.1:5432/{DATABASE}",
                "REDIS_URL=redis://127.0.0.1:6379/5",
                "CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//",
                "CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/6",
                "CELERY_TASK_DEFAULT_QUEUE=smspot-deploy-stack",
                f"EMAIL_URL={smtp_url}",
                f"STRIPE_SECRET_KEY={SECRET_KEY}",
                f"STRIPE_PUBLISHABLE_KEY={PUBLISHABLE_KEY}",
                f"STRIPE_WEBHOOK_SECRET={WEBHOOK_SECRET}",
                f"STRIPE_API_BASE={localstripe.base_url}",
                "DUE_WORK_INTERVAL_SECONDS=2",
                "WEB_CONCURRENCY=2",
                "CELERY_CONCURRENCY=1",
                "",
            ]
        )
    )
    stack = Compose(
        "smspot-ci-deploy",
        ["docker-compose.deploy.yml", "docker-compose.deploy.host.yml"],
        {"ENV_FILE": str(env_file), "DOMAIN": DOMAIN, "LETSENCRYPT_HOST_DIR": str(letsencrypt)},
    )
    stack.run("down", "--volumes", "--remove-orphans", check=False)
    try:
        seconds = stack.up()
        wait_for("nginx", 30, lambda: https_get("/healthz", context).status == 200)
        stack.import_nyc_meters("migrate")
        (LOGS / "deploy-stack-healthy-seconds").write_text(f"{seconds:.1f}\n")
        print(f"\ndeploy stack healthy in {seconds:.1f} s")  # noqa: T201 - the README's figure
        yield {"stack": stack, "context": context, "mailbox": mailbox, "stripe": localstripe}
    finally:
        stack.down()
        maintenance(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def test_journey_over_https(deploy_stack):
    mailbox = deploy_stack["mailbox"]
    seen = journey(
        Api(BASE, deploy_stack["context"]),
        deploy_stack["stripe"],
        lambda address: [m["Subject"] for m in mailbox.messages(to=address)],
    )
    assert seen["subjects"].count("Your parking reservation has ended") == 1


def test_http_goes_to_https_and_unknown_hosts_are_refused(deploy_stack):
    redirect = http_get("/available-parking-spots/?x=1", DOMAIN)
    assert redirect.status == 301
    assert redirect.getheader("Location") == f"https://{DOMAIN}/available-parking-spots/?x=1"
    # nginx's 444: the connection closes without an answer.
    with pytest.raises(http.client.RemoteDisconnected):
        http_get("/", "scanner.example")
    # TLS for a name this server does not serve: the handshake is refused, no certificate shown.
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw:
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        with pytest.raises(ssl.SSLError):
            unverified.wrap_socket(raw, server_hostname="scanner.example")


def test_nginx_serves_static_files_from_the_volume(deploy_stack):
    static = https_get("/static/admin/css/base.css", deploy_stack["context"])
    assert static.status == 200
    assert static.getheader("Content-Type") == "text/css"
    assert static.getheader("Cache-Control") == "max-age=2592000"  # nginx's `expires 30d`
    assert b"body" in static.body
    assert "/static/" not in deploy_stack["stack"].logs("api")


def test_admin_login_in_chromium_through_nginx(deploy_stack, browser):
    stack = deploy_stack["stack"]
    stack.run(
        *("exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}", "api"),
        *("python", "manage.py", "createsuperuser", "--no-input", "--email", ADMIN_EMAIL),
    )
    admin_sign_in(browser, BASE, ADMIN_EMAIL, ADMIN_PASSWORD)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    rules = "return Array.from(document.styleSheets).reduce((n, s) => n + s.cssRules.length, 0)"
    assert browser.execute_script(rules) > 100  # the admin's stylesheets, from nginx
    cookies = {cookie["name"]: cookie for cookie in browser.get_cookies()}
    assert cookies["sessionid"]["secure"] is True
    assert cookies["sessionid"]["httpOnly"] is True
    meter, _, _ = a_metered_corner()
    open_page(browser, f"{BASE}/admin/parking_spots/parkingspot/?q={meter}", "Select parking spot")
    assert meter in browser.find_element(By.ID, "result_list").text
