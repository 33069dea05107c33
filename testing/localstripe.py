"""localstripe, a local stateful Stripe emulator, for whatever goes through the real `stripe`
library without a Stripe account: the test suite (the `localstripe` fixture in
tests/localstripe.py) and the benchmarks.

`LocalStripe` also plays the browser's part (Stripe.js), and `stripe_signature` Stripe's webhook
signing.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testing.net import free_port

SECRET_KEY = "sk_test_localstripe"
PUBLISHABLE_KEY = "pk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_localstripe"
# localstripe dumps its whole state to a file after every write; localstripe alone always to
# /tmp/localstripe.pickle, which concurrent test runs would share. Our launcher takes the path
# from this variable, so each server has a file of its own.
STATE_FILE_VARIABLE = "LOCALSTRIPE_STATE_FILE"
# Run as `-c`, not `-m`: the store pickles its disputes as testing.stripe_extras.Dispute.
SERVE = "from testing.stripe_extras import serve; serve()"
ROOT = Path(__file__).resolve().parent.parent

# Test cards localstripe honours (see README, localstripe in development and tests).
CARD_OK = "4242424242424242"
# Saves fine, declined when charged.
CARD_DECLINED_ON_CHARGE = "4000000000000341"
# Asks for 3-D Secure when saved and again for every off-session charge.
CARD_ALWAYS_AUTHENTICATE = "4000002760003184"
# Declined when saved.
CARD_DECLINED_ON_SETUP = "4000000000000002"


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """A Stripe-Signature header as Stripe builds it: HMAC-SHA256 of "{t}.{payload}"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _card_data(card_number: str) -> dict:
    """A card as Stripe.js sends what was typed into its card field."""
    card = {"number": card_number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    return {"type": "card", "card": card}


class LocalStripe:
    """One localstripe process; `stopped()` takes it away and brings it back with its data."""

    def __init__(self, base_url: str | None = None) -> None:
        """A server of our own on a free port, or the client of one that runs elsewhere."""
        self.port = free_port("::")  # it listens on every interface
        self.base_url = base_url or f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        self._saved_state: bytes | None = None
        self._state_file = Path(tempfile.gettempdir()) / f"localstripe-{os.getpid()}-{self.port}"

    def start(self) -> None:
        # localstripe with disputes and Stripe's cap on refunds (testing/stripe_extras.py).
        command = [sys.executable, "-c", SERVE, "--port", str(self.port)]
        if self._saved_state is None:
            command.append("--from-scratch")
        else:
            self._state_file.write_bytes(self._saved_state)
        self._process = subprocess.Popen(  # noqa: S603 - our own venv's Python and module
            command,
            cwd=ROOT,
            env={**os.environ, STATE_FILE_VARIABLE: str(self._state_file)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self._process.returncode}")
            try:
                self.request("GET", "/v1/customers", {"limit": 1})
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("localstripe did not answer within 20 s")

    def stop(self) -> None:
        """Stop the server, keeping its data for the next `start()`."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        if self._state_file.exists():
            self._saved_state = self._state_file.read_bytes()
            self._state_file.unlink()

    def restart_empty(self) -> None:
        """Start again with no data: localstripe slows down as it stores more objects."""
        self.stop()
        self._saved_state = None
        self.start()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def request(
        self, method: str, path: str, data: dict | None = None, *, key: str | None = SECRET_KEY
    ) -> dict:
        """A raw call, outside the gateway: what a browser or an operator would see."""
        url = self.base_url + path
        body = None
        if method == "GET" and data:
            url += "?" + urllib.parse.urlencode(data)
        elif data is not None:
            body = json.dumps(data).encode()
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def confirm_card_setup(
        self, client_secret: str, card_number: str, *, authenticate: bool = True
    ) -> dict:
        """Do what Stripe.js `confirmCardSetup` does in the browser (localstripe's own Stripe.js).

        With the client secret and the publishable key only; a card that asks for 3-D Secure
        is then authenticated (or not) as the customer would in the pop-up.
        """
        setup_intent_id = client_secret.split("_secret_")[0]
        path = f"/v1/setup_intents/{setup_intent_id}/confirm"
        result = self.request(
            "POST",
            path,
            {
                "key": PUBLISHABLE_KEY,
                "client_secret": client_secret,
                "payment_method_data": _card_data(card_number),
            },
            key=None,
        )
        if result.get("status") == "requires_action":
            second = path if authenticate else f"/v1/setup_intents/{setup_intent_id}/cancel"
            result = self.request(
                "POST", second, {"key": PUBLISHABLE_KEY, "client_secret": client_secret}, key=None
            )
        return result

    def confirm_card_payment(
        self, client_secret: str, card_number: str | None = None, *, authenticate: bool = True
    ) -> dict:
        """Do what Stripe.js `confirmCardPayment` does: confirm a PaymentIntent with the card it
        holds, or with a new one, then pass (or fail) 3-D Secure if the card asks for it.

        localstripe lets a browser confirm SetupIntents only: a PaymentIntent's confirm takes
        the secret key and neither `client_secret` nor `payment_method_data`. So the client
        secret is checked here, as Stripe checks it; a new card becomes a PaymentMethod set on
        the PaymentIntent; the confirm is sent with the secret key; and the 3-D Secure step
        (`_authenticate`) is the browser's, with the publishable key and the client secret,
        as localstripe's own Stripe.js sends it. Returns the PaymentIntent, or `{"error"}`.
        """
        payment_intent_id = client_secret.split("_secret_")[0]
        path = f"/v1/payment_intents/{payment_intent_id}"
        if self.request("GET", path).get("client_secret") != client_secret:
            return {"error": {"message": "No such payment_intent", "code": "resource_missing"}}
        if card_number is not None:
            payment_method = self.request("POST", "/v1/payment_methods", _card_data(card_number))
            self.request("POST", path, {"payment_method": payment_method["id"]})
        result = self.request("POST", f"{path}/confirm", {})
        if result.get("status") == "requires_action":
            result = self.request(
                "POST",
                f"{path}/_authenticate",
                {"key": PUBLISHABLE_KEY, "client_secret": client_secret, "success": authenticate},
                key=None,
            )
        return result

    def payment_intents(self, customer_id: str | None = None) -> list[dict]:
        """Every PaymentIntent it holds (of one Customer, if given): the charges really made.

        localstripe cannot filter the list by customer, so the whole list is paged through.
        """
        found, page = [], {"limit": 100}
        while True:
            listed = self.request("GET", "/v1/payment_intents", page)
            found += [i for i in listed["data"] if customer_id in (None, i["customer"])]
            if not listed["has_more"]:
                return found
            page = {"limit": 100, "starting_after": listed["data"][-1]["id"]}

    def dispute_open(self, payment_intent_id: str, **fields) -> dict:
        """The card holder's bank disputes the PaymentIntent's charge (testing/stripe_extras.py;
        in Stripe's test mode, charging card 4000000000000259 does it)."""
        charge = self.request("GET", f"/v1/payment_intents/{payment_intent_id}")["latest_charge"]
        charge_id = charge["id"] if isinstance(charge, dict) else charge
        return self.request("POST", "/_test/disputes", {"charge": charge_id, **fields})

    def dispute_resolve(self, dispute_id: str, status: str) -> dict:
        """The bank decides the dispute: `won` or `lost`."""
        return self.request("POST", f"/_test/disputes/{dispute_id}/resolve", {"status": status})
