"""A stalled dependency: a TCP server that accepts and never answers (testing/net.py)."""

import pytest

from testing.net import StallServer


@pytest.fixture
def stall_server():
    server = StallServer()
    yield server
    server.close()
