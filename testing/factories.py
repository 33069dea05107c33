"""Model factories with realistic made-up values (Faker), unique where the database says so.

For a row with particular values or a state the API takes time to reach; a test that needs a
valid row and nothing more makes it with model-bakery (`baker.make`).
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from reservations.models import BILLED_STATUSES
from reservations.pricing import FLAT_METER_HOURS, reservation_amount_cents
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
    """An active meter in Midtown Manhattan; pass lat/lng (Decimal or str) to place it.

    Not zoned, so priced and shown (`rate` 1.50) at "elsewhere" (first hour 150 cents, later
    hours 250), and metered
    around the clock without a limit or holidays (FLAT_METER_HOURS): what a stay costs does
    not depend on the day or hour the tests run. Pass `meter_hours` and `zone` to test the
    meter's rules."""

    class Meta:
        model = "parking_spots.ParkingSpot"

    lat = Decimal("40.758000")
    lng = Decimal("-73.985500")
    # Seven digits, Manhattan's starting with 1, as in the NYC export; numbered, so unique
    # (and apart from the test exports' 1000001...).
    meter_number = factory.Sequence(lambda n: str(1_900_000 + n))
    borough = "Manhattan"
    street = factory.Faker("street_name")
    meter_hours = FLAT_METER_HOURS
    time_limit_minutes = None


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
    # The flat rule at Manhattan's old flat rate unless given: what a reservation booked
    # before meter pricing carries (migration 0009).
    rate = Decimal("4.50")
    first_hour_cents = factory.LazyAttribute(lambda o: int(o.rate * 100))
    later_hour_cents = factory.SelfAttribute("first_hour_cents")
    meter_hours = FLAT_METER_HOURS
    status = "active"
    start_time = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    end_time = factory.LazyAttribute(lambda o: o.start_time + timedelta(minutes=o.minutes))
    hold_expires_at = factory.LazyAttribute(
        lambda o: o.start_time + timedelta(minutes=10) if o.status == "pending_payment" else None
    )
    ended_at = factory.LazyAttribute(lambda o: o.end_time if o.status in BILLED_STATUSES else None)

    @factory.lazy_attribute
    def amount_cents(self):
        if self.status not in BILLED_STATUSES:
            return None
        return reservation_amount_cents(self, end=self.end_time)
