"""Both compose stacks, built and run for real (`bin/containers` builds the images first).

The engine has no bridge network here, so each stack runs with its committed host-network
override (`docker-compose.*.host.yml`) on free loopback ports. These tests are marked
`containers` and left out of `make test`; `bin/containers` runs them after the build.
"""

import csv
import json
import os
import shlex
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testing.localstripe import CARD_OK, LocalStripe

REPO = Path(__file__).resolve().parents[2]
# Resolved: a bind mount of the folder needs the real path, not a symlink to it.
NYC_EXPORT = (REPO.parent / "shared" / "data" / "Parking_Meters_Locations_and_Status.csv").resolve()
LOGS = REPO / "var" / "containers"
ENDED_SUBJECT = "Your parking reservation has ended"
CONFIRMED_SUBJECT = "Your parking reservation is confirmed"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.containers)


def wait_for(what: str, seconds: float, probe: Callable[[], object], interval: float = 0.5):
    """The first truthy value `probe` returns; OSError counts as "not yet"."""
    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except OSError as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {seconds} s (last error: {last_error})")


@dataclass
class Compose:
    """One compose project: the files, the project name and the variables it interpolates."""

    project: str
    files: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300, check: bool = True):
        command = [*shlex.split(os.environ["COMPOSE"]), "-p", self.project]
        for name in self.files:
            command += ["-f", str(REPO / name)]
        return subprocess.run(  # noqa: S603 - the compose binary bin/containers chose
            [*command, *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def up(self) -> float:
        """Start the stack from the images built already; seconds until every service whose
        image has a health check is healthy."""
        started = time.monotonic()
        self.run("up", "--detach", "--no-build", "--pull", "never", "--quiet-pull")
        wait_for(f"{self.project} healthy", 240, self.healthy, interval=1)
        return time.monotonic() - started

    def states(self) -> list[dict]:
        output = self.run("ps", "--all", "--format", "json").stdout
        # One JSON object per line in Compose v2.21+, one array before.
        text = output.strip()
        return (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(x) for x in text.split("\n") if x]
        )

    def healthy(self) -> bool:
        states = self.states()
        failed = [s["Service"] for s in states if s["State"] == "exited" and s["ExitCode"] != 0]
        assert not failed, f"{failed} exited:\n{self.logs(*failed)}"
        return all(s["Health"] in ("", "healthy") for s in states) and all(
            s["State"] == "running" or s["ExitCode"] == 0 for s in states
        )

    def logs(self, *services: str) -> str:
        return self.run("logs", "--no-color", *services, check=False).stdout

    def down(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"{self.project}.log").write_text(self.logs())
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)

    def import_nyc_meters(self, service: str) -> str:
        """The real export through the image's importer, as an operator would load it."""
        assert NYC_EXPORT.is_file(), f"{NYC_EXPORT} (the shared NYC data) is missing"
        return self.run(
            *("run", "--rm", "--no-deps", "--volume", f"{NYC_EXPORT.parent}:/data:ro"),
            *(service, "python", "manage.py", "import_nyc_meters"),
            f"/data/{NYC_EXPORT.name}",
        ).stdout


def a_metered_corner() -> tuple[str, str, str]:
    """(meter number, lat, lng) of an active on-street meter in Manhattan, from the export."""
    with NYC_EXPORT.open(newline="", encoding="utf-8-sig") as export:
        for row in csv.DictReader(export):
            if (row["Status"], row["Borough"], row["Facility"]) == (
                "Active",
                "Manhattan",
                "On Street",
            ) and row["Meter_Hours"].strip():
                return row["Meter Number"].strip(), row["Latitude"], row["Longitude"]
    raise AssertionError("no active Manhattan meter in the export")


class Api:
    """A JSON client for one base URL, as the single-page app talks to the service."""

    def __init__(self, base: str, context: ssl.SSLContext | None = None) -> None:
        self.base = base
        self.context = context
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None


def journey(api: Api, stripe: LocalStripe, inbox: Callable[[str], list[str]]) -> dict:
    """The single-page app's whole path: sign up, find a spot, reserve, save card 4242, confirm,
    end, and the worker charges it and mails "ended". Returns what it saw."""
    email = f"driver-{time.time_ns()}@example.com"
    password = "a-long-driver-passphrase-42"
    status, body = api.call(
        "POST",
        "/sign-up/",
        {"credentials": {"email": email, "password": password, "password_confirmation": password}},
    )
    assert status == 201, body
    api.token = body["token"]

    meter, lat, lng = a_metered_corner()
    status, spots = api.call(
        "GET", f"/available-parking-spots-filter/?lat={lat}&long={lng}&unit=km&dist=0.3"
    )
    assert status == 200, spots
    assert spots and spots[0]["meter_number"] == meter, spots[:1]

    status, reservation = api.call(
        "POST", f"/reservation-auth/{spots[0]['id']}/", {"reservation": {"reservation_length": 30}}
    )
    assert status == 201, reservation
    assert reservation["status"] == "pending_payment"
    rid = reservation["id"]
    status, again = api.call(
        "POST", f"/reservation-auth/{spots[0]['id']}/", {"reservation": {"reservation_length": 5}}
    )
    assert status == 409, again

    status, secret = api.call("POST", f"/create-payment-intent-auth/{rid}/")
    assert status == 201, secret
    saved = stripe.confirm_card_setup(secret["clientSecret"], CARD_OK)
    assert saved["status"] == "succeeded", saved
    status, body = api.call("GET", f"/confirm-successful-setup-intent-auth/{rid}/")
    assert status == 204, body
    wait_for("the confirmation e-mail", 60, lambda: CONFIRMED_SUBJECT in inbox(email))

    status, ended = api.call(
        "PATCH", f"/update-reservation-auth/{rid}/", {"reservation": {"end_time": None}}
    )
    assert status == 200, ended
    # A real meter bills its metered minutes only: outside its posted hours (CI in a New
    # York evening, a Sunday) the bill is 0 and nothing is charged.
    assert ended["status"] == "ended", ended
    assert ended["amount_cents"] == ended["quoted_amount_cents"], ended

    def paid() -> dict | None:
        status, past = api.call("GET", "/expired-reservations-auth/")
        assert status == 200, past
        return next((r for r in past if r["id"] == rid and r["paid"]), None)

    charged = wait_for("the worker's charge", 90, paid, interval=1)
    assert charged["status"] == "paid"
    wait_for('the "ended" e-mail', 60, lambda: ENDED_SUBJECT in inbox(email))
    intents = stripe.request("GET", "/v1/payment_intents", {"limit": 100})["data"]
    mine = [pi for pi in intents if pi.get("metadata", {}).get("reservation") == rid]
    expected = [(ended["amount_cents"], "succeeded")] if ended["amount_cents"] else []
    assert [(pi["amount"], pi["status"]) for pi in mine] == expected
    return {"email": email, "reservation": charged, "subjects": inbox(email)}
