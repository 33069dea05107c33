"""The `localstripe` fixture: one localstripe (testing/localstripe.py) per test session on a
free port, with the gateway's settings pointing at it; tests that need Stripe request it.

Registered from tests/conftest.py.
"""

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """A running localstripe, with the gateway's settings pointing at it for the session."""
    if shutil.which("localstripe", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("localstripe is not installed in this virtualenv (a dev dependency)")
    server = LocalStripe()
    server.start()
    with override_settings(
        STRIPE_API_BASE=server.base_url,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ):
        yield server
    server.stop()
