from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from reservations.models import BILLED_STATUSES
from reservations.pricing import amount_cents
from users.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"driver{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ParkingSpotFactory(factory.django.DjangoModelFactory):
    """An active spot in Midtown Manhattan; pass lat/lng (Decimal or str) to place it."""

    class Meta:
        model = "parking_spots.ParkingSpot"

    lat = Decimal("40.758000")
    lng = Decimal("-73.985500")
    rate = Decimal("4.50")
    meter_number = factory.Sequence(lambda n: f"F{n:06d}")
    borough = "Manhattan"
    street = factory.Sequence(lambda n: f"West {n % 200 + 1} Street")
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
