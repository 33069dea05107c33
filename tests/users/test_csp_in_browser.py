"""The Content-Security-Policy, in headless Chromium: the docs and the admin still run their
scripts, and nothing on them is blocked."""

import pytest
from django.conf import settings
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from testing.factories import UserFactory
from tests.browser import open_page
from users.models import User

# The browser reads through the live server's own connection: data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

# Registered before the page's own scripts can run; Chromium reports every blocked load.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _watch_violations(browser) -> None:
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})


def test_swagger_ui_runs_under_the_policy(browser, live_server):
    _watch_violations(browser)

    open_page(browser, f"{live_server.url}/api/docs/", "Secure My Spot")
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
    )

    assert "/sign-in/" in browser.find_element(By.ID, "swagger-ui").text
    assert browser.execute_script("return window.cspViolations") == []


def test_admin_scripts_run_under_the_policy(browser, live_server):
    User.objects.create_superuser("operator@example.com", "an-operator-secret-1")
    UserFactory.create_batch(2)
    _watch_violations(browser)
    admin = f"{live_server.url}/{settings.ADMIN_URL}"

    open_page(browser, f"{admin}login/", "Log in")
    browser.find_element(By.ID, "id_username").send_keys("operator@example.com")
    browser.find_element(By.ID, "id_password").send_keys("an-operator-secret-1")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(expected_conditions.title_contains("Site administration"))
    open_page(browser, f"{admin}users/user/", "Select user")
    # actions.js: "select all" ticks every row and counts them.
    browser.find_element(By.ID, "action-toggle").click()

    rows = browser.find_elements(By.CSS_SELECTOR, "input.action-select")
    assert len(rows) == 3 and all(row.is_selected() for row in rows)
    assert "3 of 3 selected" in browser.find_element(By.CSS_SELECTOR, ".action-counter").text
    assert browser.execute_script("return window.cspViolations") == []
