"""The Django admin through the deploy stack's nginx over HTTPS, driven by a real browser.

The earlier deployment looped with ERR_TOO_MANY_REDIRECTS: Django did not know the request
had arrived over TLS and redirected it to HTTPS again, forever. Here gunicorn runs with
production settings (SECURE_SSL_REDIRECT on, Secure cookies) behind nginx rendered from
nginx/templates with a self-signed certificate, and headless Chromium signs in and saves.
"""

import gzip
import subprocess

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from testing.factories import UserFactory
from tests.browser import admin_sign_in, open_page
from tests.deploy.conftest import REPO, request
from users.models import User

SCREENSHOT = REPO / "var" / "screenshots" / "admin.png"
ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "a-long-operator-passphrase-42"


def create_superuser(env: dict[str, str]) -> None:
    """As the README has the operator do it, with the production settings' password hasher."""
    subprocess.run(
        ["python", "manage.py", "createsuperuser", "--no-input", "--email", ADMIN_EMAIL],
        env={**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_proxy_tells_django_the_request_was_https(proxy_stack):
    """Without nginx's X-Forwarded-Proto the same request is redirected: the header is what
    stops the loop, and the redirect is really on."""
    https, direct = proxy_stack["https_port"], proxy_stack["gunicorn_port"]
    behind = request(https, "/admin/login/", {"Host": f"localhost:{https}"}, tls=True)
    assert behind.status == 200
    assert behind.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    assert len(behind.headers.get_all("Strict-Transport-Security")) == 1
    assert behind.getheader("X-Frame-Options") == "DENY"
    assert behind.getheader("X-Content-Type-Options") == "nosniff"
    bare = request(direct, "/admin/login/", {"Host": "localhost"})
    assert bare.status == 301
    assert bare.getheader("Location") == "https://localhost/admin/login/"
    # A client cannot downgrade itself: nginx overwrites whatever it sends.
    spoofed = {"Host": f"localhost:{https}", "X-Forwarded-Proto": "http"}
    assert request(https, "/admin/login/", spoofed, tls=True).status == 200


def test_nginx_serves_static_files_itself_and_gzips_json(proxy_stack):
    https = proxy_stack["https_port"]
    # A file Django does not know: only nginx, reading the volume, can serve it.
    (proxy_stack["static_root"] / "nginx-only.txt").write_text("from the static volume")
    static = request(https, "/static/nginx-only.txt", {"Host": "localhost"}, tls=True)
    assert (static.status, static.body) == (200, b"from the static volume")
    assert static.getheader("Strict-Transport-Security")
    schema = request(
        https,
        "/api/schema/?format=json",
        {"Host": "localhost", "Accept-Encoding": "gzip"},
        tls=True,
    )
    assert schema.status == 200
    assert schema.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(schema.body).startswith(b"{")


def test_admin_login_list_and_save_over_https(proxy_stack, browser):
    create_superuser(proxy_stack["env"])
    member = UserFactory(email="member@example.com")
    base = f"https://localhost:{proxy_stack['https_port']}"

    admin_sign_in(browser, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    print(f"\nadmin screenshot: {SCREENSHOT}")  # noqa: T201 - where to look at it

    # The admin's stylesheets arrived, from nginx: gunicorn never saw a /static/ request.
    rules = "return Array.from(document.styleSheets).reduce((n, s) => n + s.cssRules.length, 0)"
    assert browser.execute_script(rules) > 100
    assert "/static/" not in (proxy_stack["logs"] / "gunicorn.log").read_text()

    cookies = {cookie["name"]: cookie for cookie in browser.get_cookies()}
    assert cookies["sessionid"]["secure"] is True
    assert cookies["sessionid"]["httpOnly"] is True
    assert cookies["sessionid"]["sameSite"] == "Lax"
    assert cookies["csrftoken"]["secure"] is True

    open_page(browser, f"{base}/admin/users/user/", "Select user to change")
    assert "member@example.com" in browser.page_source
    browser.find_element(By.LINK_TEXT, "member@example.com").click()
    WebDriverWait(browser, 15).until(
        expected_conditions.presence_of_element_located((By.ID, "id_is_active"))
    )
    active = browser.find_element(By.ID, "id_is_active")
    assert active.is_selected()
    active.click()
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 15).until(
        expected_conditions.text_to_be_present_in_element(
            (By.TAG_NAME, "body"), "was changed successfully"
        )
    )
    assert browser.current_url == f"{base}/admin/users/user/"
    member.refresh_from_db()
    assert member.is_active is False
    assert User.objects.get(email=ADMIN_EMAIL).is_superuser


def test_screenshot_path_is_outside_version_control():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SCREENSHOT)], cwd=REPO, check=False
    ).returncode
    assert ignored == 0
