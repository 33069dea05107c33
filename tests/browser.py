"""Headless Chromium (Debian's chromium and chromium-driver) for tests that look as a person does.

Registered from tests/conftest.py: the `browser` fixture is one fresh profile per test.
"""

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.deploy.conftest import require

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
    "--window-size=1280,900",
]


@pytest.fixture
def browser(tmp_path):
    require(CHROMIUM, CHROMEDRIVER)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def open_page(driver, url: str, title: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 15).until(expected_conditions.title_contains(title))
    assert "ERR_TOO_MANY_REDIRECTS" not in driver.page_source


def admin_sign_in(driver, base: str, email: str, password: str) -> None:
    """The admin's login form, as an operator fills it; ends on the admin index."""
    open_page(driver, f"{base}/admin/", "Log in")
    assert driver.current_url == f"{base}/admin/login/?next=/admin/"
    driver.find_element(By.ID, "id_username").send_keys(email)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.title_contains("Site administration"))
    assert driver.current_url == f"{base}/admin/"
