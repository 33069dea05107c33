"""Each dependency stalled, or down, in turn (issue 13's fault-injection suite): the service
answers fast and loses nothing.

While the fault lasts, a booking, a PATCH that ends a reservation and a confirm are sent at
once, and /healthz while they run: /healthz answers within 1 s and each of the three within
the bound the settings document for a wait on that dependency (gunicorn.conf.py), with a
success or a JSON 409/503, never a 500, an HTML page or silence. Then the dependency returns,
the client retries what was refused (as Retry-After asks), and every e-mail that became due
is sent exactly once and every due charge made exactly once.

Findings are collected and reported together, so that one run says everything that broke.
"""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from django.conf import settings

from outbox.models import OutboundEmail
from reservations.emails import SUBJECTS
from reservations.models import Reservation
from reservations.models import ReservationStatus as S
from secure_my_spot import process_role
from testing.factories import ParkingSpotFactory
from testing.mail import Mailbox
from testing.net import wait_until
from tests.faults.conftest import DEPENDENCIES, Service
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.faults

_CACHE = settings.CACHES["default"]["OPTIONS"]
# The longest a web request may wait on each dependency, as documented in the settings and
# gunicorn.conf.py: a Stripe call 5 s with one retry (~11 s); an SMTP reply EMAIL_TIMEOUT
# (though no request should send mail at all); a Redis connect plus reply; a statement.
BOUNDS = {
    "stripe": 2 * settings.STRIPE_WEB_TIMEOUT_SECONDS + 1,
    "smtp": settings.EMAIL_TIMEOUT,
    "redis": _CACHE["socket_connect_timeout"] + _CACHE["socket_timeout"],
    # A round trip's statement timeout and grace, then one more once the server is silent.
    "postgres": settings.DB_WEB_STATEMENT_TIMEOUT_MS / 1000
    + process_role.NO_ANSWER_GRACE_SECONDS
    + process_role.UNRESPONSIVE_SECONDS,
}
# Scheduling on a loaded two-core machine, on top of each bound.
MARGIN = 3.0
HEALTHZ_SECONDS = 1.0
# How long the fault outlasts the answers: past the workers' own Stripe timeout (conftest),
# so that what they tried meanwhile failed rather than waited.
FAULT_AFTER_ANSWERS = 4.0
RECOVERY_SECONDS = 60
# The outbox retries a failed send after OUTBOX_RETRY_FIRST_SECONDS (conftest: 2 s).
DELIVERY_SECONDS = 75


def _down(proxy: FaultProxy) -> None:
    """Crashed or restarting: what was open is cut, new connections are refused."""
    proxy.refuse()
    proxy.drop()


FAULTS: dict[str, Callable[[FaultProxy], None]] = {"stalled": FaultProxy.stall, "down": _down}
# A mail server that is down fails a send as a stalled one does, only sooner; the 30 s retry
# that costs is spent once, on the stall.
CASES = [
    *(
        pytest.param(dependency, "stalled", id=f"{dependency}-stalled")
        for dependency in DEPENDENCIES
    ),
    *(
        pytest.param(dependency, "down", id=f"{dependency}-down")
        for dependency in ("stripe", "redis", "postgres")
    ),
]


@dataclass
class Answer:
    what: str
    status: int | None  # None: no answer within the client's timeout, or the connection died
    content_type: str
    body: str
    retry_after: str
    seconds: float

    @property
    def done(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def clear(self) -> bool:
        """A success, or a refusal a client can act on: JSON 409/503 with a reason."""
        return self.done or (
            self.status in (409, 503)
            and self.content_type.startswith("application/json")
            and '"detail"' in self.body
        )

    def __str__(self) -> str:
        status = self.status or "no answer"
        return f"{self.what}: {status} after {self.seconds:.1f} s {self.body[:200]!r}"


def timed(what: str, send: Callable[[], requests.Response]) -> Answer:
    started = time.monotonic()
    try:
        response = send()
    except requests.RequestException as exc:
        return Answer(what, None, "", type(exc).__name__, "", time.monotonic() - started)
    return Answer(
        what,
        response.status_code,
        response.headers.get("Content-Type", ""),
        response.text,
        response.headers.get("Retry-After", ""),
        time.monotonic() - started,
    )


def retry_until_done(what: str, send, *, done: Callable[[], bool]) -> Answer:
    """A client's retries after a refusal, as Retry-After asks (at most 2 s apart here)."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        answer = timed(what, send)
        if answer.done or done() or time.monotonic() > deadline:
            return answer
        time.sleep(min(float(answer.retry_after or 1), 2))


def reservation(public_id: str) -> Reservation:
    return Reservation.objects.get(public_id=public_id)


def subjects(mailbox: Mailbox, email: str) -> list[str]:
    return sorted(message["Subject"] for message in mailbox.messages(to=email))


def failed_sends(*emails: str) -> int:
    """Unsent e-mails to these addresses whose last send failed."""
    unsent = OutboundEmail.objects.filter(to__in=emails, sent_at__isnull=True)
    return unsent.exclude(last_error="").count()


def settled(expected: dict[str, list[str]], mailbox: Mailbox, ended_id: str) -> bool:
    return reservation(ended_id).status == S.PAID and all(
        len(subjects(mailbox, email)) >= len(wanted) for email, wanted in expected.items()
    )


@pytest.mark.parametrize(("dependency", "fault"), CASES)
def test_a_dependency_fault_costs_bounded_answers_and_loses_nothing(
    dependency: str, fault: str, stack: Service, guest, localstripe, mailbox: Mailbox
):
    # Before: one guest's card is saved but not confirmed yet; another's reservation runs,
    # confirmed and mailed; a third spot is free.
    to_confirm, to_end, booker = guest(), guest(), guest()
    spot_a, spot_b, spot_c = (ParkingSpotFactory(time_limit_minutes=None) for _ in range(3))
    pending_id = to_confirm.booked(spot_a.pk)
    to_confirm.save_card(pending_id)
    active_id = to_end.booked(spot_b.pk)
    to_end.save_card(active_id)
    assert to_end.confirm(active_id).status_code == 204
    wait_until(lambda: mailbox.messages(to=to_end.email), timeout=20)
    proxy = stack.proxies[dependency]
    assert proxy.accepted, f"the service does not reach {dependency} through its proxy"

    client_timeout = BOUNDS[dependency] + MARGIN
    booking_key = uuid.uuid4().hex
    actions = {
        "booking": lambda: booker.book(
            spot_c.pk, idempotency_key=booking_key, timeout=client_timeout
        ),
        "PATCH": lambda: to_end.end_now(active_id, timeout=client_timeout),
        "confirm": lambda: to_confirm.confirm(pending_id, timeout=client_timeout),
    }
    problems: list[str] = []
    prefix = f"{dependency} {fault}"

    FAULTS[fault](proxy)
    with ThreadPoolExecutor(len(actions)) as pool:
        futures = {what: pool.submit(timed, what, send) for what, send in actions.items()}
        time.sleep(0.5)  # the three are in the service's hands
        health = timed("/healthz", lambda: stack.request("GET", "/healthz", timeout=10))
        answers = {what: future.result() for what, future in futures.items()}
    if health.status != 200 or health.seconds >= HEALTHZ_SECONDS:
        problems.append(f"{prefix}, {health} (bound {HEALTHZ_SECONDS} s)")
    for answer in answers.values():
        if not answer.clear() or answer.seconds >= client_timeout:
            problems.append(f"{prefix}, {answer} (bound {client_timeout:.1f} s)")
    if dependency == "smtp":
        # The workers met the stall: the confirmation and the 'ended' e-mail failed to go.
        try:
            wait_until(lambda: failed_sends(to_confirm.email, to_end.email) == 2, timeout=20)
        except pytest.fail.Exception:
            problems.append(f"{prefix}: the workers did not try (and fail) to send")
    else:
        time.sleep(FAULT_AFTER_ANSWERS)
    if fault == "stalled" and not proxy.discarded:
        problems.append(f"{prefix}: nothing met the stall (no bytes discarded)")
    proxy.passing()

    # The dependency is back: the client retries what did not go through.
    retries = {
        "booking": lambda: Reservation.objects.filter(email=booker.email).exists(),
        "PATCH": lambda: reservation(active_id).status != S.ACTIVE,
        "confirm": lambda: reservation(pending_id).status == S.ACTIVE,
    }
    for what, done in retries.items():
        if not answers[what].done:
            answer = retry_until_done(what, actions[what], done=done)
            if not (answer.done or done()):
                problems.append(f"{dependency} back, still refused: {answer}")

    expected = {
        to_confirm.email: [SUBJECTS["confirmed"]],
        to_end.email: sorted([SUBJECTS["confirmed"], SUBJECTS["ended"]]),
        booker.email: [],
    }
    try:
        wait_until(
            lambda: settled(expected, mailbox, active_id), timeout=DELIVERY_SECONDS, interval=0.5
        )
    except pytest.fail.Exception:
        status = reservation(active_id).status
        problems.append(f"{dependency} back: not settled in {DELIVERY_SECONDS} s ({status})")

    # Exactly once: every e-mail, the one charge due, and one booking.
    for email, wanted in expected.items():
        if subjects(mailbox, email) != wanted:
            problems.append(f"e-mails to {email}: {subjects(mailbox, email)}, want {wanted}")
    unsent = OutboundEmail.objects.filter(to__in=expected, sent_at__isnull=True)
    if unsent.exists():
        problems.append(f"unsent: {list(unsent.values_list('kind', 'to', 'last_error'))}")
    ended = reservation(active_id)
    charges = [
        (c["amount"], c["status"]) for c in localstripe.payment_intents(ended.stripe_customer_id)
    ]
    if charges != [(ended.amount_cents, "succeeded")]:
        problems.append(f"charges of the ended reservation: {charges}")
    if localstripe.payment_intents(reservation(pending_id).stripe_customer_id):
        problems.append("a charge of the reservation that still runs")
    if (bookings := Reservation.objects.filter(email=booker.email).count()) != 1:
        problems.append(f"bookings made: {bookings}")

    assert not problems, "\n".join([*problems, stack.logs()])
