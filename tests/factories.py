from decimal import Decimal

import factory

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
