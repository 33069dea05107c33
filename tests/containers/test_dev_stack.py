"""The development stack (docker-compose.dev.yml) as a developer starts it: its own PostgreSQL,
RabbitMQ, Redis, localstripe and mail catcher, and the app image for api, worker, beat, push
and publisher. The mail is read over the catcher's API (Mailpit's), never from logs."""

import json
import re
import urllib.request

import pytest

from testing.localstripe import LocalStripe
from tests.containers.conftest import LOGS, Api, Compose, journey, wait_for

API = "http://127.0.0.1:28000"
PUSH = "http://127.0.0.1:28001"
MAIL_API = "http://127.0.0.1:28025/api/v1"
STRIPE = "http://127.0.0.1:28420"


def mail_api(path: str) -> dict:
    with urllib.request.urlopen(MAIL_API + path, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def subjects_to(address: str) -> list[str]:
    listing = mail_api("/messages")["messages"]
    return [m["Subject"] for m in listing if address in {to["Address"] for to in m["To"]}]


@pytest.fixture(scope="module")
def dev_stack():
    stack = Compose("smspot-ci-dev", ["docker-compose.dev.yml", "docker-compose.dev.host.yml"])
    stack.run("down", "--volumes", "--remove-orphans", check=False)  # an earlier run's leftovers
    try:
        seconds = stack.up()
        stripe = LocalStripe(base_url=STRIPE)
        # localstripe installs itself at start (no health check of its own).
        wait_for(
            "the stack's localstripe", 120, lambda: "data" in stripe.request("GET", "/v1/customers")
        )
        (LOGS / "dev-stack-healthy-seconds").write_text(f"{seconds:.1f}\n")
        print(f"\ndev stack healthy in {seconds:.1f} s")  # noqa: T201 - the README's figure
        yield stack, stripe
    finally:
        stack.down()


def test_dev_stack_serves_the_whole_journey(dev_stack):
    stack, stripe = dev_stack
    imported = stack.import_nyc_meters("migrate")
    assert re.search(r"created\s+13241\b", imported), imported

    seen = journey(Api(API), stripe, subjects_to)

    assert seen["subjects"].count("Your parking reservation has ended") == 1
    ended = next(
        m
        for m in mail_api("/messages")["messages"]
        if m["Subject"].endswith("has ended") and seen["email"] in {to["Address"] for to in m["To"]}
    )
    text = mail_api(f"/message/{ended['ID']}")["Text"]
    assert f"${seen['reservation']['amount_cents'] / 100:.2f}" in text, text


def test_dev_stack_push_and_probes(dev_stack):
    stack, _ = dev_stack
    with urllib.request.urlopen(f"{API}/readyz", timeout=10) as response:  # noqa: S310
        assert json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(f"{PUSH}/healthz", timeout=10) as response:  # noqa: S310
        assert response.status == 200
    # The demo seed ran with the migrations: the map was not empty before the import.
    assert "demo parking spots" in stack.logs("migrate")
    states = {s["Service"]: s for s in stack.states()}
    assert {name for name, s in states.items() if s["Health"] == "healthy"} >= {
        "api",
        "push",
        "worker",
        "postgres",
        "rabbitmq",
        "redis",
    }
    assert states["migrate"]["ExitCode"] == 0
