"""A Celery worker's own metrics port (WORKER_METRICS_PORT): the end-of-stay charge is
counted in the worker, which gunicorn's /metrics never sees. Real processes as in
test_pipeline.py: a threads-pool worker on the real RabbitMQ, localstripe, an SMTP server.
"""

import secrets
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from testing.factories import ParkingSpotFactory
from testing.net import free_port, wait_until
from tests.tasks.test_pipeline import Driver, finished

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(port: int, token: str | None) -> dict[tuple[str, tuple], float]:
    """Every sample, by name and labels; raises HTTPError on a refusal."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def answers(port: int, token: str) -> bool:
    try:
        scrape(port, token)
    except OSError:
        return False
    return True


def test_the_worker_serves_the_charges_it_made(celery_processes, localstripe, mailbox):
    port, token = free_port(), secrets.token_urlsafe()
    celery_processes.env.update(WORKER_METRICS_PORT=str(port), METRICS_TOKEN=token)
    celery_processes.worker("counted", concurrency=2, pool="threads")
    wait_until(lambda: answers(port, token), timeout=15)
    succeeded = ("smspot_charges_total", (("outcome", "succeeded"),))
    assert scrape(port, token).get(succeeded, 0) == 0

    driver = Driver(localstripe)
    reservation_id = driver.book_and_pay(ParkingSpotFactory().pk)
    driver.change_end(reservation_id, None)  # ends now and enqueues the pipeline
    wait_until(lambda: finished(reservation_id, mailbox, driver.email), timeout=30)

    samples = scrape(port, token)
    assert samples[succeeded] == 1
    # The scrape-time gauges (database, broker) are the web's /metrics, not each worker's.
    assert not any(name == "smspot_due_work_lag_seconds" for name, _ in samples)
    for wrong in (None, "not-the-token"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(port, wrong)
        assert refused.value.code == 401
