"""Model factories with realistic made-up values (Faker), unique where the database says so.

For a row with particular values or a state the API takes time to reach; a test that needs a
valid row and nothing more makes it with model-bakery (`baker.make`).
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from reservations.models import BILLED_STATUSES
from reservations.pricing import amount_cents
from users.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A driver's account whose password is PASSWORD; the e-mail is numbered, so unique."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        name = factory.Faker("user_name")

    email = factory.LazyAttributeSequence(lambda o, n: f"{o.name}.{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ParkingSpotFactory(factory.django.DjangoModelFactory):
    """An active meter in Midtown Manhattan; pass lat/lng (Decimal or str) to place it."""

    class Meta:
        model = "parking_spots.ParkingSpot"

    lat = Decimal("40.758000")
    lng = Decimal("-73.985500")
    rate = Decimal("4.50")
    # Seven digits, Manhattan's starting with 1, as in the NYC export; numbered, so unique
    # (and apart from the test exports' 1000001...).
    meter_number = factory.Sequence(lambda n: str(1_900_000 + n))
    borough = "Manhattan"
    street = factory.Faker("street_name")
    time_limit_minutes = 120


class ReservationFactory(factory.django.DjangoModelFactory):
    """A reservation written straight to the table, running since 5 minutes ago.

    For states the API takes time to reach: pass `status` (a billed one gets `ended_at` and
    its real bill) and `minutes` (the length, default 60). Bookings go through the service.
    """

    class Meta:
        model = "reservations.Reservation"

    class Params:
        minutes = 60

    spot = factory.SubFactory(ParkingSpotFactory)
    # One guest, whom the tests address by this e-mail (guest routes, manage links, mail).
    email = "guest@example.com"
    rate = factory.SelfAttribute("spot.rate")
    status = "active"
    start_time = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    end_time = factory.LazyAttribute(lambda o: o.start_time + timedelta(minutes=o.minutes))
    hold_expires_at = factory.LazyAttribute(
        lambda o: o.start_time + timedelta(minutes=10) if o.status == "pending_payment" else None
    )
    ended_at = factory.LazyAttribute(lambda o: o.end_time if o.status in BILLED_STATUSES else None)
    amount_cents = factory.LazyAttribute(
        lambda o: amount_cents(rate=o.rate, start=o.start_time, end=o.end_time)
        if o.status in BILLED_STATUSES
        else None
    )
